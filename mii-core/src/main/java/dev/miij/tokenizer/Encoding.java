package dev.miij.tokenizer;

import java.util.Arrays;
import java.util.List;

/**
 * The result of encoding one text: token ids, the token strings they stand for, and which
 * positions hold real tokens rather than padding.
 *
 * @param ids token ids
 * @param tokens the vocabulary entry (or matched added-token text) of each id
 * @param attentionMask 1 for a real token, 0 for padding
 */
public record Encoding(int[] ids, List<String> tokens, int[] attentionMask) {

    public Encoding {
        ids = ids.clone();
        tokens = List.copyOf(tokens);
        attentionMask = attentionMask.clone();
    }

    @Override
    public int[] ids() {
        return ids.clone();
    }

    @Override
    public int[] attentionMask() {
        return attentionMask.clone();
    }

    public int size() {
        return ids.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Encoding e && Arrays.equals(ids, e.ids) && tokens.equals(e.tokens)
                && Arrays.equals(attentionMask, e.attentionMask);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(ids) + tokens.hashCode();
    }

    @Override
    public String toString() {
        return "Encoding" + tokens + Arrays.toString(ids);
    }
}
