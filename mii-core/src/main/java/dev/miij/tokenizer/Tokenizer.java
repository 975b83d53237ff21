package dev.miij.tokenizer;

import dev.miij.MiiException;
import dev.miij.tokenizer.AddedTokens.AddedToken;
import dev.miij.tokenizer.Decoders.Decoder;
import dev.miij.tokenizer.Normalizers.Normalizer;
import dev.miij.tokenizer.PostProcessors.PostProcessor;
import dev.miij.tokenizer.PreTokenizers.PreTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * A Hugging Face tokenizer loaded from tokenizer.json, encoding and decoding exactly as the
 * {@code tokenizers} library does.
 *
 * <p>Encoding runs the same pipeline: added tokens are cut out of the raw text, the rest is
 * normalized and pre-tokenized into words, the model turns each word into ids, and the
 * post-processor adds special tokens; truncation and padding from the file apply last.
 * Instances are immutable and safe to share between threads.
 */
public final class Tokenizer {

    private final Path source;
    private final Normalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final Model model;
    private final PostProcessor postProcessor;
    private final Decoder decoder;
    private final AddedTokens added;
    private final Limits.Truncation truncation;
    private final Limits.Padding padding;
    private final TokenizerConfig config;

    Tokenizer(Path source, Normalizer normalizer, PreTokenizer preTokenizer, Model model, PostProcessor postProcessor,
            Decoder decoder, AddedTokens added, Limits.Truncation truncation, Limits.Padding padding,
            TokenizerConfig config) {
        this.source = source;
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.model = Objects.requireNonNull(model);
        this.postProcessor = postProcessor;
        this.decoder = decoder;
        this.added = added;
        this.truncation = truncation;
        this.padding = padding;
        this.config = Objects.requireNonNull(config);
    }

    /** Loads a tokenizer.json file, without tokenizer_config.json. */
    public static Tokenizer fromFile(Path tokenizerJson) {
        return TokenizerJson.load(tokenizerJson, TokenizerConfig.EMPTY);
    }

    /** Loads {@code dir/tokenizer.json} and, when present, {@code dir/tokenizer_config.json}. */
    public static Tokenizer fromModelFolder(Path dir) {
        Path json = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(json)) {
            throw MiiException.notFound("no tokenizer.json in " + dir);
        }
        Path configFile = dir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(configFile)) {
            return TokenizerJson.load(json, TokenizerConfig.EMPTY);
        }
        com.fasterxml.jackson.databind.JsonNode raw = TokenizerConfig.read(configFile);
        // The tokenizer class named there may rebuild the pipeline, as transformers does.
        return TokenizerJson.load(json, TokenizerConfig.fromJson(raw, configFile), raw);
    }

    /** The file this tokenizer was loaded from. */
    public Path source() {
        return source;
    }

    /** The token ids of {@code text}; with {@code addSpecialTokens}, wrapped by the post-processor. */
    public int[] encode(String text, boolean addSpecialTokens) {
        TokenSeq seq = withSpecialTokens(encodeSequence(text), addSpecialTokens);
        return (padding != null ? padding.apply(seq) : seq).ids.toArray();
    }

    /** Like {@link #encode}, with the token strings and attention mask too. */
    public Encoding encodeDetailed(String text, boolean addSpecialTokens) {
        TokenSeq seq = withSpecialTokens(encodeSequence(text), addSpecialTokens);
        int real = seq.size();
        if (padding != null) {
            seq = padding.apply(seq);
        }
        int[] mask = new int[seq.size()];
        int from = padding != null && padding.left() ? seq.size() - real : 0;
        Arrays.fill(mask, from, from + real, 1);
        return new Encoding(seq.ids.toArray(), seq.tokens, mask);
    }

    /** Truncates (leaving room for the special tokens) and runs the post-processor. */
    private TokenSeq withSpecialTokens(TokenSeq seq, boolean addSpecialTokens) {
        if (truncation != null) {
            seq = truncation.apply(seq, addSpecialTokens && postProcessor != null ? postProcessor.addedTokens() : 0);
        }
        return postProcessor != null ? postProcessor.process(seq, addSpecialTokens) : seq;
    }

    private TokenSeq encodeSequence(String text) {
        List<Piece> pieces = added.extract(Objects.requireNonNull(text, "text"), normalizer);
        if (preTokenizer != null) {
            pieces = PreTokenizers.apply(preTokenizer, pieces);
        }
        TokenSeq seq = new TokenSeq(text.length() / 3 + 4);
        for (Piece p : pieces) {
            if (p.isAdded()) {
                seq.add(p.addedId(), p.text());
            } else {
                model.tokenize(p.text(), seq);
            }
        }
        return seq;
    }

    /**
     * The text of {@code ids}. Ids outside the vocabulary are ignored; with
     * {@code skipSpecialTokens}, so are special tokens.
     */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) {
            String t = idToToken(id);
            if (t != null && !(skipSpecialTokens && added.isSpecialContent(t))) {
                tokens.add(t);
            }
        }
        return Decoders.decode(decoder, tokens);
    }

    /** A decoder for text generated one token at a time. */
    public StreamDecoder newStreamDecoder(boolean skipSpecialTokens) {
        return new StreamDecoder(this, skipSpecialTokens);
    }

    /** One more than the largest id, added tokens included. */
    public int vocabSize() {
        int bound = model.idBound();
        for (AddedToken a : added.all()) {
            bound = Math.max(bound, a.id() + 1);
        }
        return bound;
    }

    public OptionalInt tokenToId(String token) {
        AddedToken a = added.byContent(token);
        if (a != null) {
            return OptionalInt.of(a.id());
        }
        int id = model.tokenToId(token);
        return id >= 0 ? OptionalInt.of(id) : OptionalInt.empty();
    }

    /**
     * The token with this id, or null when there is none. An added token matched after
     * normalization is given in its normalized form, as the reference does.
     */
    public String idToToken(int id) {
        String a = added.decodeForm(id);
        return a != null ? a : model.idToToken(id);
    }

    /** Whether {@code id} is a special added token (skipped when decoding with skipSpecialTokens). */
    public boolean isSpecial(int id) {
        AddedToken a = added.byId(id);
        return a != null && a.special();
    }

    public TokenizerConfig config() {
        return config;
    }

    /**
     * This tokenizer without the truncation and padding that its file may prescribe: what a
     * generative engine wants, since it batches and bounds lengths itself.
     */
    public Tokenizer withoutTruncationAndPadding() {
        return new Tokenizer(source, normalizer, preTokenizer, model, postProcessor, decoder, added, null, null,
                config);
    }

    @Override
    public String toString() {
        return "Tokenizer[" + source + "]";
    }
}
