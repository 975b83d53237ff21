package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;

/** Whole words looked up in the vocabulary, with an unknown token for everything else. */
final class WordLevel implements Model {

    private final Vocab vocab;
    private final String unkToken;

    WordLevel(Vocab vocab, String unkToken) {
        this.vocab = vocab;
        this.unkToken = unkToken;
    }

    static WordLevel fromJson(JsonNode node, JsonCtx ctx) {
        return new WordLevel(Vocab.fromObject(node.get("vocab"), ctx, "WordLevel model"),
                ctx.optString(node, "unk_token", "<unk>"));
    }

    @Override
    public void tokenize(String word, TokenSeq out) {
        int id = vocab.get(word);
        String token = word;
        if (id < 0) {
            token = unkToken;
            id = vocab.get(unkToken);
            if (id < 0) {
                throw MiiException.corrupt("WordLevel unk_token '" + unkToken + "' is not in the vocabulary");
            }
        }
        out.add(id, token);
    }

    @Override
    public int tokenToId(String token) {
        return vocab.get(token);
    }

    @Override
    public String idToToken(int id) {
        return vocab.token(id);
    }

    @Override
    public int idBound() {
        return vocab.idBound();
    }
}
