package dev.miij.tokenizer;

import java.util.Arrays;

/**
 * Turns generated token ids into text as they arrive.
 *
 * <p>Decoding token by token is wrong in two ways: a character can be spread over several byte
 * tokens, and decoders treat the first token of a text specially (stripping its leading space,
 * for instance). So each step decodes a short window of recent tokens, with and without the new
 * one, and emits only what the new token added. Text that ends in U+FFFD is held back, because the
 * next token may complete the character. The concatenation of everything {@link #push} and
 * {@link #flush} return equals {@link Tokenizer#decode} of all the ids.
 *
 * <p>Not thread-safe: one instance per generated sequence.
 */
public final class StreamDecoder {

    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    /** Tokens of the current window: the context tokens, then those not yet emitted. */
    private int[] window = new int[8];
    private int size;
    /** How many tokens at the start of the window are context only. */
    private int prefixCount;
    /** The decoding of the context tokens. */
    private String prefix = "";

    StreamDecoder(Tokenizer tokenizer, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /** Adds one token and returns the text it completes, possibly "". */
    public String push(int id) {
        if (size == window.length) {
            window = Arrays.copyOf(window, size * 2);
        }
        window[size++] = id;
        String text = tokenizer.decode(Arrays.copyOf(window, size), skipSpecialTokens);
        if (text.length() <= prefix.length() || text.endsWith("\uFFFD")) {
            return "";
        }
        String added = newText(text);
        // The tokens just emitted become the context for what follows.
        int keep = size - prefixCount;
        System.arraycopy(window, prefixCount, window, 0, keep);
        size = keep;
        prefixCount = keep;
        prefix = tokenizer.decode(Arrays.copyOf(window, size), skipSpecialTokens);
        return added;
    }

    /** Returns whatever is still held back (an incomplete character decodes as U+FFFD) and resets. */
    public String flush() {
        String text = tokenizer.decode(Arrays.copyOf(window, size), skipSpecialTokens);
        String rest = text.length() > prefix.length() ? newText(text) : "";
        size = 0;
        prefixCount = 0;
        prefix = "";
        return rest;
    }

    private String newText(String text) {
        if (text.startsWith(prefix)) {
            return text.substring(prefix.length());
        }
        // A decoder rewrote the context when the new token arrived; emit from where they differ.
        int common = 0;
        while (common < prefix.length() && prefix.charAt(common) == text.charAt(common)) {
            common++;
        }
        return text.substring(common);
    }
}
