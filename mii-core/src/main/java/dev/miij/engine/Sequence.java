package dev.miij.engine;

import dev.miij.GenerationOptions;
import dev.miij.Response;
import dev.miij.Response.FinishReason;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;

/**
 * One request inside the engine: its tokens (prompt, then generated), how many of them are in the
 * KV cache, its blocks, its sampling seed, and the text streamed so far.
 */
final class Sequence {

    final long id;
    final int promptLength;
    final GenerationOptions options;
    final int maxNewTokens;
    /** The seed of the request's draws: its own, or a random one when it gave none. */
    final long seed;
    final StreamListener listener;
    final CompletableFuture<Response> result = new CompletableFuture<>();
    final BlockTable blocks = new BlockTable();
    final Detokenizer.Stream detokenizer;
    final String promptText;
    /** One per generated token when the request asks for log-probabilities, else null. */
    final java.util.List<dev.miij.TokenLogprob> logprobs;

    int[] tokens;
    int length;
    /** Tokens whose keys and values are in the cache. */
    int computed;
    volatile boolean cancelled;
    boolean finished;
    long submittedNanos;
    /** When the sequence was first part of a step (0: still queued); preemption does not reset it. */
    long scheduledNanos;
    long firstTokenNanos;

    private final StringBuilder text = new StringBuilder();
    /** Characters of {@link #text} already handed to the listener. */
    private int emitted;
    private int tokensEmitted;
    private final int longestStop;

    Sequence(long id, int[] prompt, GenerationOptions options, int maxNewTokens, StreamListener listener,
             Detokenizer.Stream detokenizer, String promptText) {
        this.id = id;
        this.promptLength = prompt.length;
        this.options = options;
        this.maxNewTokens = maxNewTokens;
        this.seed = options.seed() != null ? options.seed() : java.util.concurrent.ThreadLocalRandom.current().nextLong();
        this.listener = listener;
        this.detokenizer = detokenizer;
        this.promptText = promptText;
        this.logprobs = options.logprobs() != null ? new java.util.ArrayList<>() : null;
        this.tokens = Arrays.copyOf(prompt, prompt.length + Math.min(maxNewTokens, 256) + 1);
        this.length = prompt.length;
        int longest = 0;
        for (String s : options.stop()) {
            longest = Math.max(longest, s.length());
        }
        this.longestStop = longest;
    }

    int generated() {
        return length - promptLength;
    }

    /** Tokens still to be written into the cache before the next token can be sampled. */
    int pending() {
        return length - computed;
    }

    void append(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[length++] = token;
    }

    /**
     * Adds a generated token's text; returns true when a stop string now appears, in which case the
     * text is cut just before it.
     */
    boolean addText(int token, boolean decodeIt) {
        int before = text.length();
        if (decodeIt) {
            text.append(detokenizer.push(token));
        }
        if (longestStop == 0 || text.length() == before) {
            return false;
        }
        int from = Math.max(0, before - longestStop + 1);
        int cut = -1;
        for (String s : options.stop()) {
            int at = text.indexOf(s, from);
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
            }
        }
        if (cut >= 0) {
            text.setLength(cut);
            return true;
        }
        return false;
    }

    /** Hands newly final text to the listener, holding back a tail that may begin a stop string. */
    void stream(boolean last) {
        int safe = text.length();
        if (!last && longestStop > 0) {
            safe = Math.max(emitted, text.length() - heldBack());
        }
        int newTokens = generated() - tokensEmitted;
        if (safe > emitted || (last && newTokens > 0) || (newTokens > 0 && safe == text.length())) {
            String delta = text.substring(emitted, safe);
            int[] ids = Arrays.copyOfRange(tokens, promptLength + tokensEmitted, length);
            java.util.List<dev.miij.TokenLogprob> lp = logprobs == null ? null
                    : java.util.List.copyOf(logprobs.subList(Math.min(tokensEmitted, logprobs.size()), logprobs.size()));
            emitted = safe;
            tokensEmitted = generated();
            listener.onText(delta, ids, lp);
        }
    }

    /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
    private int heldBack() {
        int best = 0;
        for (String s : options.stop()) {
            for (int k = Math.min(s.length() - 1, text.length()); k > best; k--) {
                if (text.substring(text.length() - k).equals(s.substring(0, k))) {
                    best = k;
                    break;
                }
            }
        }
        return best;
    }

    void flushText() {
        text.append(detokenizer.flush());
    }

    Response response(FinishReason reason) {
        int[] ids = Arrays.copyOfRange(tokens, promptLength, length);
        String out = options.returnFullText() ? promptText + text : text.toString();
        return new Response(out, promptLength, ids.length, reason, Arrays.stream(ids).boxed().toList(), logprobs);
    }
}
