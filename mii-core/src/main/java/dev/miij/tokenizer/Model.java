package dev.miij.tokenizer;

/** The part of a tokenizer that turns one pre-tokenized word into vocabulary ids. */
interface Model {

    /** Appends the ids and token strings of {@code word} (never empty) to {@code out}. */
    void tokenize(String word, TokenSeq out);

    /** The id of a vocabulary entry, or -1. */
    int tokenToId(String token);

    /** The vocabulary entry with this id, or null. */
    String idToToken(int id);

    /** One more than the largest id of the vocabulary. */
    int idBound();
}
