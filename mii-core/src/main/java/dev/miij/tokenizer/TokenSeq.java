package dev.miij.tokenizer;

import java.util.ArrayList;
import java.util.List;

/** Ids and token strings of an encoding under construction, kept in step. */
final class TokenSeq {

    final IntList ids;
    final List<String> tokens;

    TokenSeq(int capacity) {
        ids = new IntList(capacity);
        tokens = new ArrayList<>(capacity);
    }

    int size() {
        return ids.size();
    }

    void add(int id, String token) {
        ids.add(id);
        tokens.add(token);
    }

    void addAll(TokenSeq other) {
        for (int i = 0; i < other.size(); i++) {
            add(other.ids.get(i), other.tokens.get(i));
        }
    }

    /** Drops everything from position {@code n} on. */
    void truncate(int n) {
        ids.truncate(n);
        while (tokens.size() > n) {
            tokens.remove(tokens.size() - 1);
        }
    }

    /** Keeps the first {@code n} entries, or the last {@code n} when {@code fromLeft}. */
    TokenSeq keep(int n, boolean fromLeft) {
        if (n >= size()) {
            return this;
        }
        TokenSeq out = new TokenSeq(n);
        int from = fromLeft ? size() - n : 0;
        for (int i = from; i < from + n; i++) {
            out.add(ids.get(i), tokens.get(i));
        }
        return out;
    }

    /** Pads to {@code length} with {@code id}/{@code token}, on the left or the right. */
    TokenSeq pad(int length, int id, String token, boolean left) {
        int missing = length - size();
        if (missing <= 0) {
            return this;
        }
        TokenSeq out = new TokenSeq(length);
        if (left) {
            for (int i = 0; i < missing; i++) {
                out.add(id, token);
            }
        }
        out.addAll(this);
        if (!left) {
            for (int i = 0; i < missing; i++) {
                out.add(id, token);
            }
        }
        return out;
    }
}
