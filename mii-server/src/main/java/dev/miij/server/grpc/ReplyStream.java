package dev.miij.server.grpc;

import dev.miij.Generation;
import dev.miij.Response;
import dev.miij.TokenLogprob;
import dev.miij.engine.StreamListener;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.SingleGenerationReply;
import io.grpc.ClientCall;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Receives a GeneratorReplyStream call's messages and reports them as an engine stream would: text
 * pieces to a {@link StreamListener}, then the full {@link Response} (pieces concatenated, counts and
 * finish reason of the last message). A call cancelled by its owner finishes normally as CANCELLED.
 */
final class ReplyStream implements StreamObserver<MultiGenerationReply> {

    private final StreamListener listener;
    private final CompletableFuture<Response> result = new CompletableFuture<>();
    private final StringBuilder text = new StringBuilder();
    private final List<Integer> tokenIds = new java.util.ArrayList<>();
    /** Null until a message carries log-probabilities. */
    private List<TokenLogprob> logprobs;
    private SingleGenerationReply last = SingleGenerationReply.getDefaultInstance();
    private volatile boolean cancelled;

    ReplyStream(StreamListener listener) {
        this.listener = listener;
    }

    CompletableFuture<Response> result() {
        return result;
    }

    /** Call before cancelling the call, so that its CANCELLED status is taken as a normal end. */
    void cancelling() {
        cancelled = true;
    }

    /** This stream as a {@link Generation} whose cancel cancels {@code call}. */
    Generation generation(ClientCall<?, ?> call) {
        return generation(() -> call.cancel("cancelled by the client", null));
    }

    /** This stream as a {@link Generation} whose cancel runs {@code cancelCall}. */
    Generation generation(Runnable cancelCall) {
        return new Generation() {
            @Override
            public CompletableFuture<Response> result() {
                return result;
            }

            @Override
            public void cancel() {
                cancelling();
                cancelCall.run();
            }
        };
    }

    @Override
    public void onNext(MultiGenerationReply reply) {
        for (SingleGenerationReply r : reply.getResponseList()) {
            last = r;
            int[] ids = r.getTokenIdsList().stream().mapToInt(Long::intValue).toArray();
            for (int id : ids) {
                tokenIds.add(id);
            }
            List<TokenLogprob> lp = WireReplies.fromWire(r.getLogprobsList());
            if (lp != null) {
                if (logprobs == null) {
                    logprobs = new java.util.ArrayList<>();
                }
                logprobs.addAll(lp);
            }
            if (!r.getResponse().isEmpty() || ids.length > 0) {
                text.append(r.getResponse());
                listener.onText(r.getResponse(), ids, lp);
            }
        }
    }

    @Override
    public void onError(Throwable t) {
        if (cancelled) {
            finish(new Response(text.toString(), (int) last.getPromptTokens(), (int) last.getGeneratedTokens(),
                    Response.FinishReason.CANCELLED, tokenIds, logprobs));
            return;
        }
        Throwable e = GrpcStatus.toMii(t);
        try {
            listener.onFinish(null, e);
        } finally {
            result.completeExceptionally(e);
        }
    }

    @Override
    public void onCompleted() {
        Response r = WireReplies.toResponse(text.toString(), last);
        finish(new Response(r.generatedText(), r.promptLength(), r.generatedLength(), r.finishReason(), tokenIds,
                logprobs));
    }

    private void finish(Response r) {
        try {
            listener.onFinish(r, null);
        } finally {
            result.complete(r);
        }
    }
}
