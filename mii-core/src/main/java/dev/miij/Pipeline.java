package dev.miij;

import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.Backend;
import dev.miij.backend.Devices;
import dev.miij.engine.Detokenizer;
import dev.miij.engine.Engine;
import dev.miij.engine.StreamListener;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.parallel.LeadRank;
import dev.miij.tokenizer.StreamDecoder;
import dev.miij.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A model loaded in this process, ready to generate: DeepSpeed-MII's non-persistent pipeline.
 * Every prompt, batched or streamed, runs through one continuous-batching {@link Engine}.
 *
 * <pre>{@code
 * try (Pipeline pipe = Mii.pipeline("path/to/model")) {
 *     List<Response> out = pipe.generate(List.of("DeepSpeed is", "Seattle is"),
 *             GenerationOptions.builder().maxNewTokens(32).build());
 *     out.forEach(r -> System.out.println(r.generatedText()));
 * }
 * }</pre>
 */
public final class Pipeline implements AutoCloseable {

    private final ModelFolder folder;
    private final WeightSource weights;
    private final Tokenizer tokenizer;
    private final DecoderModel model;
    /** Rank 0 of the tensor-parallel group, or null for one rank. */
    private final LeadRank ranks;
    private final Engine engine;
    private final int[] eosIds;

    private Pipeline(ModelFolder folder, PipelineOptions options) {
        this.folder = folder;
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        // A tokenizer.json may carry truncation or padding meant for training; generation needs neither.
        this.tokenizer = Tokenizer.fromModelFolder(folder.dir()).withoutTruncationAndPadding();
        this.weights = folder.openWeights();
        Backend backend = null;
        LeadRank lead = null;
        try {
            if (options.tensorParallel() > 1) {
                lead = LeadRank.launch(folder.dir(), spec, weights, options.device(), options.tensorParallel());
                this.model = lead.model();
            } else {
                backend = Devices.open(options.device());
                this.model = new DecoderModel(spec, weights, backend);
            }
            this.ranks = lead;
            this.eosIds = eosIds(folder, tokenizer);
            this.engine = new Engine(model, options.engine(), new Detokenizer() {
                @Override
                public Stream open() {
                    StreamDecoder d = tokenizer.newStreamDecoder(true);
                    return new Detokenizer.Stream() {
                        @Override
                        public String push(int tokenId) {
                            return d.push(tokenId);
                        }

                        @Override
                        public String flush() {
                            return d.flush();
                        }
                    };
                }

                @Override
                public String token(int tokenId) {
                    return tokenizer.decode(new int[] {tokenId}, false);
                }
            }, eosIds);
        } catch (RuntimeException e) {
            if (lead != null) {
                lead.close(); // the other ranks' processes too
            }
            if (backend != null) {
                backend.close(); // device memory and contexts are not the garbage collector's
            }
            weights.close();
            throw e;
        }
    }

    /** Opens a local model folder (or a resolved hub snapshot). */
    static Pipeline open(ModelFolder folder, PipelineOptions options) {
        return new Pipeline(folder, options);
    }

    private static int[] eosIds(ModelFolder folder, Tokenizer tokenizer) {
        Set<Integer> ids = new LinkedHashSet<>();
        for (int id : folder.generationConfig().eosTokenIds()) {
            ids.add(id);
        }
        String eos = tokenizer.config().eosToken();
        if (eos != null) {
            tokenizer.tokenToId(eos).ifPresent(ids::add);
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Generates for each prompt; all prompts run through the engine together. */
    public List<Response> generate(List<String> prompts, GenerationOptions options) {
        try {
            return submit(prompts, options).join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw e;
        }
    }

    /**
     * Queues the prompts and returns at once; the future completes when every prompt has finished.
     * Bad input (an empty or over-long prompt, invalid options) throws here and queues nothing.
     */
    public CompletableFuture<List<Response>> submit(List<String> prompts, GenerationOptions options) {
        if (prompts.isEmpty()) {
            throw MiiException.invalid("no prompts given");
        }
        List<int[]> encoded = new ArrayList<>();
        for (String p : prompts) {
            encoded.add(encode(p));
        }
        List<Engine.Handle> handles = new ArrayList<>();
        try {
            for (int i = 0; i < prompts.size(); i++) {
                handles.add(engine.submit(encoded.get(i), options, StreamListener.NONE, prompts.get(i)));
            }
        } catch (RuntimeException e) {
            handles.forEach(Engine.Handle::cancel);
            throw e;
        }
        CompletableFuture<?>[] all = handles.stream().map(Engine.Handle::result).toArray(CompletableFuture[]::new);
        return CompletableFuture.allOf(all).thenApply(v -> handles.stream().map(h -> h.result().join()).toList());
    }

    public Response generate(String prompt, GenerationOptions options) {
        return generate(List.of(prompt), options).getFirst();
    }

    /**
     * Starts one request whose text arrives through {@code listener} as it is generated; the
     * generation's future completes with the full response, and its cancel stops generation and frees
     * its memory.
     */
    public Generation stream(String prompt, GenerationOptions options, StreamListener listener) {
        return engine.submit(encode(prompt), options, listener, prompt);
    }

    /** Token ids of a prompt, with the special tokens the model expects (BOS) added. */
    public int[] encode(String prompt) {
        if (prompt == null) {
            throw MiiException.invalid("prompt must not be null");
        }
        return tokenizer.encode(prompt, true);
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public Engine engine() {
        return engine;
    }

    public TransformerSpec spec() {
        return model.spec();
    }

    public ModelFolder folder() {
        return folder;
    }

    public int[] eosTokenIds() {
        return eosIds.clone();
    }

    /** Stops the engine (and the other tensor-parallel ranks) and unmaps the weights (MII's {@code destroy}). */
    @Override
    public void close() {
        engine.close();
        if (ranks != null) {
            ranks.close();
        } else {
            model.close();
        }
        weights.close();
    }
}
