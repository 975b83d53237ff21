package dev.miij.server.grpc;

import com.google.protobuf.Empty;
import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.Response;
import dev.miij.TokenLogprob;
import dev.miij.engine.StreamListener;
import dev.miij.server.GenerationService;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import dev.miij.server.grpc.proto.SingleGenerationReply;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * MII's {@code ModelResponse} service over one engine: what a replica process serves. Every failure
 * becomes a status for that call alone (bad kwargs: INVALID_ARGUMENT naming the field), so no request
 * can take the replica down; a client that goes away cancels its requests in the engine.
 *
 * <pre>{@code
 * ReplicaService s = new ReplicaService(null, () -> System.exit(0));
 * s.serve(new PipelineService(pipeline, "my-deployment", "my-model"));   // after the model has loaded
 * }</pre>
 */
public final class ReplicaService extends ModelResponseGrpc.ModelResponseImplBase {

    private final Integer defaultMaxLength;
    private final Runnable onTerminate;
    private volatile GenerationService service;

    /**
     * @param defaultMaxLength the deployment's max_length for requests that set none, or null
     * @param onTerminate      run after answering a Terminate call (on its own thread)
     */
    public ReplicaService(Integer defaultMaxLength, Runnable onTerminate) {
        this.defaultMaxLength = defaultMaxLength;
        this.onTerminate = onTerminate;
    }

    /** Starts answering requests with this engine (until then calls fail with UNAVAILABLE). */
    public void serve(GenerationService service) {
        this.service = service;
    }

    @Override
    public void generatorReply(MultiStringRequest request, StreamObserver<MultiGenerationReply> observer) {
        ServerCallStreamObserver<MultiGenerationReply> out = (ServerCallStreamObserver<MultiGenerationReply>) observer;
        Cancels cancels = new Cancels();
        out.setOnCancelHandler(cancels::cancelAll);
        try {
            GenerationService s = ready();
            List<String> prompts = prompts(request);
            List<int[]> ids = tokenPrompts(request);
            GenerationOptions options = WireKwargs.parse(request.getQueryKwargsMap(), defaultMaxLength);
            long start = System.nanoTime();
            // One engine request per prompt, all submitted before any is awaited, so they batch together.
            List<CompletableFuture<Response>> results = new ArrayList<>();
            for (int k = 0; k < prompts.size() + ids.size(); k++) {
                Generation st = k < prompts.size() ? s.stream(prompts.get(k), options, StreamListener.NONE)
                        : s.stream(ids.get(k - prompts.size()), options, StreamListener.NONE);
                cancels.add(st::cancel);
                // One prompt failing ends the call: stop the others instead of finishing work nobody gets.
                st.result().whenComplete((r, error) -> {
                    if (error != null) {
                        cancels.cancelAll();
                    }
                });
                results.add(st.result());
            }
            CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)).whenComplete((v, error) -> {
                if (error != null) {
                    out.onError(GrpcStatus.toStatus(error));
                    return;
                }
                List<Response> responses = results.stream().map(CompletableFuture::join).toList();
                out.onNext(WireReplies.of(responses, (System.nanoTime() - start) / 1e9));
                out.onCompleted();
            });
        } catch (RuntimeException e) {
            cancels.cancelAll();
            out.onError(GrpcStatus.toStatus(e));
        }
    }

    @Override
    public void generatorReplyStream(MultiStringRequest request, StreamObserver<MultiGenerationReply> observer) {
        ServerCallStreamObserver<MultiGenerationReply> out = (ServerCallStreamObserver<MultiGenerationReply>) observer;
        Cancels cancels = new Cancels();
        out.setOnCancelHandler(cancels::cancelAll);
        try {
            GenerationService s = ready();
            List<String> prompts = prompts(request);
            List<int[]> ids = tokenPrompts(request);
            if (prompts.size() + ids.size() != 1) {
                throw MiiException.invalid("request: streaming takes exactly one prompt, got " + (prompts.size() + ids.size()));
            }
            GenerationOptions options = WireKwargs.parse(request.getQueryKwargsMap(), defaultMaxLength);
            if (options.returnFullText()) {
                // The engine streams generated text only; send the prompt first so the pieces add up to the full text.
                String text = prompts.isEmpty() ? s.decode(ids.getFirst()) : prompts.getFirst();
                out.onNext(WireReplies.piece(text, 0, 0, new int[0]));
            }
            long start = System.nanoTime();
            StreamListener listener = new StreamListener() {
                private int generated;

                @Override
                public void onText(String text, int[] tokenIds) {
                    onText(text, tokenIds, null);
                }

                @Override
                public void onText(String text, int[] tokenIds, List<TokenLogprob> logprobs) {
                    generated += tokenIds.length;
                    if (!text.isEmpty() || tokenIds.length > 0) {
                        out.onNext(WireReplies.piece(text, 0, generated, tokenIds, logprobs));
                    }
                }

                @Override
                public void onFinish(Response response, Throwable error) {
                    if (error != null) {
                        out.onError(GrpcStatus.toStatus(error));
                        return;
                    }
                    // The last message carries no new text, only the finish reason and the final counts.
                    SingleGenerationReply last = WireReplies.of(response, (System.nanoTime() - start) / 1e9)
                            .toBuilder().setResponse("").clearTokenIds().clearLogprobs().build();
                    out.onNext(MultiGenerationReply.newBuilder().addResponse(last).build());
                    out.onCompleted();
                }
            };
            Generation st = prompts.isEmpty() ? s.stream(ids.getFirst(), options, listener)
                    : s.stream(prompts.getFirst(), options, listener);
            cancels.add(st::cancel);
        } catch (RuntimeException e) {
            cancels.cancelAll();
            out.onError(GrpcStatus.toStatus(e));
        }
    }

    @Override
    public void terminate(Empty request, StreamObserver<Empty> out) {
        out.onNext(Empty.getDefaultInstance());
        out.onCompleted();
        Thread.ofPlatform().name("mii-terminate").start(onTerminate);
    }

    private GenerationService ready() {
        GenerationService s = service;
        if (s == null) {
            throw Status.UNAVAILABLE.withDescription("this replica is still loading its model").asRuntimeException();
        }
        return s;
    }

    static List<String> prompts(MultiStringRequest request) {
        if (request.getRequestCount() == 0 && request.getPromptTokenIdsCount() == 0) {
            throw MiiException.invalid("request: no prompts given");
        }
        if (request.getRequestCount() > 0 && request.getPromptTokenIdsCount() > 0) {
            throw MiiException.invalid("request: give prompts as text or as token ids, not both");
        }
        return request.getRequestList();
    }

    /** The prompts given as token ids (MII-J's prompt_token_ids); empty for text prompts. */
    static List<int[]> tokenPrompts(MultiStringRequest request) {
        List<int[]> out = new ArrayList<>(request.getPromptTokenIdsCount());
        for (var t : request.getPromptTokenIdsList()) {
            int[] ids = new int[t.getIdsCount()];
            for (int i = 0; i < ids.length; i++) {
                long id = t.getIds(i);
                if (id < 0 || id > Integer.MAX_VALUE) {
                    throw MiiException.invalid("request: prompt token id " + id + " is out of range");
                }
                ids[i] = (int) id;
            }
            out.add(ids);
        }
        return out;
    }

    /** The cancel actions of one call's engine requests; actions added after cancelAll run at once. */
    private static final class Cancels {
        private final List<Runnable> actions = new ArrayList<>();
        private boolean cancelled;

        void add(Runnable r) {
            synchronized (this) {
                if (!cancelled) {
                    actions.add(r);
                    return;
                }
            }
            r.run();
        }

        void cancelAll() {
            List<Runnable> todo;
            synchronized (this) {
                cancelled = true;
                todo = new ArrayList<>(actions);
                actions.clear();
            }
            todo.forEach(Runnable::run);
        }
    }
}
