package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;

/**
 * BERT's WordPiece: greedy longest-match-first from the left, with pieces after the first
 * spelled with a continuation prefix ("##"). A word that cannot be covered entirely, or that is
 * too long, becomes the single unknown token.
 */
final class WordPiece implements Model {

    private final Vocab vocab;
    private final String unkToken;
    private final String prefix;
    private final int maxInputChars;

    WordPiece(Vocab vocab, String unkToken, String prefix, int maxInputChars) {
        this.vocab = vocab;
        this.unkToken = unkToken;
        this.prefix = prefix;
        this.maxInputChars = maxInputChars;
    }

    static WordPiece fromJson(JsonNode node, JsonCtx ctx) {
        String component = "WordPiece model";
        return new WordPiece(Vocab.fromObject(node.get("vocab"), ctx, component),
                ctx.optString(node, "unk_token", "[UNK]"), ctx.optString(node, "continuing_subword_prefix", "##"),
                ctx.optInt(node, "max_input_chars_per_word", 100, component));
    }

    @Override
    public void tokenize(String word, TokenSeq out) {
        if (word.codePointCount(0, word.length()) > maxInputChars) {
            out.add(unkId(), unkToken);
            return;
        }
        int mark = out.size();
        int start = 0;
        int n = word.length();
        while (start < n) {
            int end = n;
            int found = -1;
            String piece = null;
            while (start < end) {
                String sub = word.substring(start, end);
                piece = start > 0 ? prefix + sub : sub;
                int id = vocab.get(piece);
                if (id >= 0) {
                    found = id;
                    break;
                }
                end -= Character.charCount(word.codePointBefore(end));
            }
            if (found < 0) {
                out.truncate(mark);
                out.add(unkId(), unkToken);
                return;
            }
            out.add(found, piece);
            start = end;
        }
    }

    private int unkId() {
        int id = vocab.get(unkToken);
        if (id < 0) {
            throw MiiException.corrupt("WordPiece unk_token '" + unkToken + "' is not in the vocabulary");
        }
        return id;
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
