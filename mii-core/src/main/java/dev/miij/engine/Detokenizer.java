package dev.miij.engine;

/** Turns generated token ids into text incrementally, as the engine streams them. */
public interface Detokenizer {

    /** Produces no text: for callers that work on token ids alone (benchmarks, tests). */
    Detokenizer NONE = () -> new Stream() {
        @Override
        public String push(int tokenId) {
            return "";
        }

        @Override
        public String flush() {
            return "";
        }
    };

    /** A fresh stream for one request. */
    Stream open();

    /** One token's text decoded alone, special tokens kept (log-probabilities show it); "" by default. */
    default String token(int tokenId) {
        return "";
    }

    /** Incremental, UTF-8-safe decoding: the concatenation of all results equals the full decode. */
    interface Stream {
        /** Text completed by this token (possibly empty while a multi-byte character is incomplete). */
        String push(int tokenId);

        /** Whatever text is still held back; called once at the end. */
        String flush();
    }
}
