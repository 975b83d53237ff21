package dev.miij;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Options of one generation request, with DeepSpeed-MII's names and defaults. Build with
 * {@link #builder()}, or read MII's snake_case keyword arguments with {@link #fromMap(Map)}:
 *
 * <pre>{@code
 * GenerationOptions greedy = GenerationOptions.builder().maxNewTokens(64).doSample(false).build();
 * GenerationOptions fromWire = GenerationOptions.fromMap(Map.of("max_new_tokens", 64, "top_p", 0.95));
 * }</pre>
 *
 * @param maxLength      upper bound on prompt + generated tokens (MII default 1024, clipped to the model's context)
 * @param maxNewTokens   tokens to generate at most; null = up to {@code maxLength}
 * @param minNewTokens   end-of-sequence is suppressed until this many tokens exist (default 0)
 * @param ignoreEos      keep generating after an end-of-sequence token (default false)
 * @param doSample       sample (true, the default) or take the most likely token (false)
 * @param topP           nucleus sampling mass (default 0.9)
 * @param topK           keep only the k most likely tokens (null or 0 = off)
 * @param temperature    logits divided by this before sampling (null = 1.0)
 * @param returnFullText prepend the prompt to the generated text (default false)
 * @param stop           stop strings of any length; the text is cut before the first one found
 * @param seed           sampling seed; the same seed gives the same tokens whatever the batch
 * @param presencePenalty   subtracted from the logit of every token already generated, as vLLM and
 *                          OpenAI do (in [-2, 2], default 0 = off)
 * @param frequencyPenalty  subtracted from a token's logit once per time it was generated (in [-2, 2],
 *                          default 0 = off)
 * @param repetitionPenalty logits of tokens in the prompt or the output are divided by it when positive
 *                          and multiplied when negative, as transformers and vLLM do (in (0, 10],
 *                          default 1 = off)
 * @param logprobs          null for none; otherwise return each generated token's log-probability and
 *                          those of the {@code logprobs} most likely tokens (in [0, 20]), from the
 *                          model's raw logits as vLLM does ({@link dev.miij.backend.Logprobs})
 */
public record GenerationOptions(int maxLength, Integer maxNewTokens, int minNewTokens, boolean ignoreEos,
                                boolean doSample, double topP, Integer topK, Double temperature,
                                boolean returnFullText, List<String> stop, Long seed, double presencePenalty,
                                double frequencyPenalty, double repetitionPenalty, Integer logprobs) {

    public static final int DEFAULT_MAX_LENGTH = 1024;

    /** Every option name accepted by {@link #fromMap}. */
    public static final List<String> NAMES = List.of("max_length", "max_new_tokens", "min_new_tokens", "ignore_eos",
            "do_sample", "top_p", "top_k", "temperature", "return_full_text", "stop", "seed", "presence_penalty",
            "frequency_penalty", "repetition_penalty", "logprobs");

    public GenerationOptions {
        stop = List.copyOf(stop);
        validate(maxLength, maxNewTokens, minNewTokens, topP, topK, temperature, stop);
        if (!(presencePenalty >= -2 && presencePenalty <= 2)) {
            throw MiiException.invalid("presence_penalty must be in [-2, 2], got " + presencePenalty);
        }
        if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) {
            throw MiiException.invalid("frequency_penalty must be in [-2, 2], got " + frequencyPenalty);
        }
        if (!(repetitionPenalty > 0 && repetitionPenalty <= 10)) {
            throw MiiException.invalid("repetition_penalty must be in (0, 10], got " + repetitionPenalty);
        }
        if (logprobs != null && (logprobs < 0 || logprobs > dev.miij.backend.Logprobs.MAX_TOP)) {
            throw MiiException.invalid("logprobs must be in [0, " + dev.miij.backend.Logprobs.MAX_TOP + "], got "
                    + logprobs);
        }
    }

    /** The options without log-probabilities. */
    public GenerationOptions(int maxLength, Integer maxNewTokens, int minNewTokens, boolean ignoreEos,
                             boolean doSample, double topP, Integer topK, Double temperature,
                             boolean returnFullText, List<String> stop, Long seed, double presencePenalty,
                             double frequencyPenalty, double repetitionPenalty) {
        this(maxLength, maxNewTokens, minNewTokens, ignoreEos, doSample, topP, topK, temperature, returnFullText,
                stop, seed, presencePenalty, frequencyPenalty, repetitionPenalty, null);
    }

    /** The options without penalties (the record as it was before they existed). */
    public GenerationOptions(int maxLength, Integer maxNewTokens, int minNewTokens, boolean ignoreEos,
                             boolean doSample, double topP, Integer topK, Double temperature,
                             boolean returnFullText, List<String> stop, Long seed) {
        this(maxLength, maxNewTokens, minNewTokens, ignoreEos, doSample, topP, topK, temperature, returnFullText,
                stop, seed, 0, 0, 1, null);
    }

    /** Whether any penalty changes the logits. */
    public boolean penalized() {
        return presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1;
    }

    public static GenerationOptions defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.maxLength = maxLength;
        b.maxNewTokens = maxNewTokens;
        b.minNewTokens = minNewTokens;
        b.ignoreEos = ignoreEos;
        b.doSample = doSample;
        b.topP = topP;
        b.topK = topK;
        b.temperature = temperature;
        b.returnFullText = returnFullText;
        b.stop = new ArrayList<>(stop);
        b.seed = seed;
        b.presencePenalty = presencePenalty;
        b.frequencyPenalty = frequencyPenalty;
        b.repetitionPenalty = repetitionPenalty;
        b.logprobs = logprobs;
        return b;
    }

    /** Above this, sampling is uniform over the top-p/top-k set to within float precision: a typo, not a choice. */
    public static final double MAX_TEMPERATURE = 100;

    private static void validate(int maxLength, Integer maxNewTokens, int minNewTokens, double topP, Integer topK,
                                 Double temperature, List<String> stop) {
        if (maxLength <= 0) {
            throw MiiException.invalid("max_length must be positive, got " + maxLength);
        }
        if (maxNewTokens != null && maxNewTokens <= 0) {
            throw MiiException.invalid("max_new_tokens must be positive, got " + maxNewTokens);
        }
        if (minNewTokens < 0) {
            throw MiiException.invalid("min_new_tokens must not be negative, got " + minNewTokens);
        }
        if (maxNewTokens != null && minNewTokens > maxNewTokens) {
            throw MiiException.invalid("min_new_tokens (" + minNewTokens + ") exceeds max_new_tokens (" + maxNewTokens + ")");
        }
        if (!(topP > 0 && topP <= 1)) {
            throw MiiException.invalid("top_p must be in (0, 1], got " + topP);
        }
        if (topK != null && topK < 0) {
            throw MiiException.invalid("top_k must not be negative, got " + topK);
        }
        if (temperature != null && !(temperature > 0 && temperature <= MAX_TEMPERATURE)) {
            throw MiiException.invalid("temperature must be in (0, " + (int) MAX_TEMPERATURE + "], got " + temperature
                    + " (use do_sample=false for greedy decoding)");
        }
        for (String s : stop) {
            if (s == null || s.isEmpty()) {
                throw MiiException.invalid("stop strings must not be empty");
            }
        }
    }

    /**
     * Reads MII's keyword arguments ({@code max_new_tokens}, {@code do_sample}, ...). Unknown names and
     * values of the wrong type are rejected with a message naming the field.
     */
    public static GenerationOptions fromMap(Map<String, ?> kwargs) {
        Builder b = builder();
        for (Map.Entry<String, ?> e : new LinkedHashMap<>(kwargs).entrySet()) {
            String key = e.getKey();
            Object value = e.getValue();
            if (value == null) {
                continue;
            }
            switch (key) {
                case "max_length" -> b.maxLength(intValue(key, value));
                case "max_new_tokens" -> b.maxNewTokens(intValue(key, value));
                case "min_new_tokens" -> b.minNewTokens(intValue(key, value));
                case "ignore_eos" -> b.ignoreEos(boolValue(key, value));
                case "do_sample" -> b.doSample(boolValue(key, value));
                case "top_p" -> b.topP(doubleValue(key, value));
                case "top_k" -> b.topK(intValue(key, value));
                case "temperature" -> b.temperature(doubleValue(key, value));
                case "return_full_text" -> b.returnFullText(boolValue(key, value));
                case "seed" -> b.seed((long) longValue(key, value));
                case "presence_penalty" -> b.presencePenalty(doubleValue(key, value));
                case "frequency_penalty" -> b.frequencyPenalty(doubleValue(key, value));
                case "repetition_penalty" -> b.repetitionPenalty(doubleValue(key, value));
                case "logprobs" -> b.logprobs(intValue(key, value));
                case "stop" -> {
                    if (value instanceof String s) {
                        b.stop(List.of(s));
                    } else if (value instanceof List<?> list) {
                        List<String> out = new ArrayList<>();
                        for (Object o : list) {
                            if (!(o instanceof String s)) {
                                throw MiiException.invalid("stop must be a string or a list of strings, got an element " + o);
                            }
                            out.add(s);
                        }
                        b.stop(out);
                    } else {
                        throw MiiException.invalid("stop must be a string or a list of strings, got " + value);
                    }
                }
                default -> throw MiiException.invalid("unknown generation option '" + key + "'; known options: "
                        + String.join(", ", NAMES));
            }
        }
        return b.build();
    }

    private static int intValue(String key, Object v) {
        long l = longValue(key, v);
        if (l > Integer.MAX_VALUE || l < Integer.MIN_VALUE) {
            throw MiiException.invalid(key + " is out of range: " + v);
        }
        return (int) l;
    }

    private static long longValue(String key, Object v) {
        if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) && Double.isFinite(n.doubleValue())
                && Math.abs(n.doubleValue()) < 9.0e15) {
            return n.longValue();
        }
        throw MiiException.invalid(key + " must be an integer, got " + describe(v));
    }

    private static double doubleValue(String key, Object v) {
        if (v instanceof Number n && Double.isFinite(n.doubleValue())) {
            return n.doubleValue();
        }
        throw MiiException.invalid(key + " must be a number, got " + describe(v));
    }

    private static boolean boolValue(String key, Object v) {
        if (v instanceof Boolean b) {
            return b;
        }
        throw MiiException.invalid(key + " must be true or false, got " + describe(v));
    }

    private static String describe(Object v) {
        return v instanceof String s ? "the string \"" + s + "\"" : String.valueOf(v);
    }

    /** Mutable builder; {@link #build()} validates. */
    public static final class Builder {
        private int maxLength = DEFAULT_MAX_LENGTH;
        private Integer maxNewTokens;
        private int minNewTokens;
        private boolean ignoreEos;
        private boolean doSample = true;
        private double topP = 0.9;
        private Integer topK;
        private Double temperature;
        private boolean returnFullText;
        private List<String> stop = new ArrayList<>();
        private Long seed;
        private double presencePenalty;
        private double frequencyPenalty;
        private double repetitionPenalty = 1;
        private Integer logprobs;

        public Builder maxLength(int v) { maxLength = v; return this; }
        public Builder maxNewTokens(Integer v) { maxNewTokens = v; return this; }
        public Builder minNewTokens(int v) { minNewTokens = v; return this; }
        public Builder ignoreEos(boolean v) { ignoreEos = v; return this; }
        public Builder doSample(boolean v) { doSample = v; return this; }
        public Builder topP(double v) { topP = v; return this; }
        public Builder topK(Integer v) { topK = v; return this; }
        public Builder temperature(Double v) { temperature = v; return this; }
        public Builder returnFullText(boolean v) { returnFullText = v; return this; }
        public Builder stop(List<String> v) { stop = new ArrayList<>(Objects.requireNonNull(v)); return this; }
        public Builder seed(Long v) { seed = v; return this; }
        public Builder presencePenalty(double v) { presencePenalty = v; return this; }
        public Builder frequencyPenalty(double v) { frequencyPenalty = v; return this; }
        public Builder repetitionPenalty(double v) { repetitionPenalty = v; return this; }
        public Builder logprobs(Integer v) { logprobs = v; return this; }

        public GenerationOptions build() {
            return new GenerationOptions(maxLength, maxNewTokens, minNewTokens, ignoreEos, doSample, topP, topK,
                    temperature, returnFullText, stop, seed, presencePenalty, frequencyPenalty, repetitionPenalty,
                    logprobs);
        }
    }
}
