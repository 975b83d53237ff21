package dev.miij.server.grpc;

import dev.miij.Response;
import dev.miij.TokenLogprob;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.SingleGenerationReply;
import dev.miij.server.grpc.proto.TopLogprob;
import java.util.List;
import java.util.Locale;

/**
 * {@link Response}s to and from MII's reply messages. MII's wire format carries no token ids, so
 * responses read from the wire have an empty {@link Response#tokenIds()}.
 *
 * <pre>{@code
 * MultiGenerationReply reply = WireReplies.of(responses, seconds);
 * Response r = WireReplies.toResponse(reply.getResponse(0));
 * }</pre>
 */
public final class WireReplies {

    /** MII's finish_reason of the stream messages that are not the last. */
    public static final String NOT_FINISHED = "none";

    private WireReplies() {
    }

    public static SingleGenerationReply of(Response r, double seconds) {
        return SingleGenerationReply.newBuilder()
                .setResponse(r.generatedText())
                .setFinishReason(r.finishReason().wireName())
                .setPromptTokens(r.promptLength())
                .setGeneratedTokens(r.generatedLength())
                .setTimeTaken((float) seconds)
                .setModelTimeTaken((float) seconds)
                .addAllTokenIds(r.tokenIds().stream().map(Integer::longValue).toList())
                .addAllLogprobs(toWire(r.logprobs()))
                .build();
    }

    /** Log-probabilities on the wire; none for null. */
    public static List<dev.miij.server.grpc.proto.TokenLogprob> toWire(List<TokenLogprob> logprobs) {
        if (logprobs == null) {
            return List.of();
        }
        List<dev.miij.server.grpc.proto.TokenLogprob> out = new java.util.ArrayList<>(logprobs.size());
        for (TokenLogprob t : logprobs) {
            var b = dev.miij.server.grpc.proto.TokenLogprob.newBuilder().setTokenId(t.tokenId()).setToken(t.token())
                    .setLogprob(t.logprob());
            for (TokenLogprob.Alternative a : t.top()) {
                b.addTop(TopLogprob.newBuilder().setTokenId(a.tokenId()).setToken(a.token()).setLogprob(a.logprob()));
            }
            out.add(b.build());
        }
        return out;
    }

    /** Log-probabilities from the wire; null when there are none. */
    public static List<TokenLogprob> fromWire(List<dev.miij.server.grpc.proto.TokenLogprob> wire) {
        if (wire.isEmpty()) {
            return null;
        }
        List<TokenLogprob> out = new java.util.ArrayList<>(wire.size());
        for (var t : wire) {
            List<TokenLogprob.Alternative> top = new java.util.ArrayList<>(t.getTopCount());
            for (TopLogprob a : t.getTopList()) {
                top.add(new TokenLogprob.Alternative((int) a.getTokenId(), a.getToken(), a.getLogprob()));
            }
            out.add(new TokenLogprob((int) t.getTokenId(), t.getToken(), t.getLogprob(), top));
        }
        return out;
    }

    /** One streamed piece of text: not finished yet, with the token counts so far. */
    public static MultiGenerationReply piece(String text, int promptTokens, int generatedTokens, int[] tokenIds) {
        return piece(text, promptTokens, generatedTokens, tokenIds, null);
    }

    /** One streamed piece of text with its tokens' log-probabilities (null for none). */
    public static MultiGenerationReply piece(String text, int promptTokens, int generatedTokens, int[] tokenIds,
                                             List<TokenLogprob> logprobs) {
        SingleGenerationReply.Builder b = SingleGenerationReply.newBuilder().addAllLogprobs(toWire(logprobs));
        for (int id : tokenIds) {
            b.addTokenIds(id);
        }
        return MultiGenerationReply.newBuilder().addResponse(b
                .setResponse(text)
                .setFinishReason(NOT_FINISHED)
                .setPromptTokens(promptTokens)
                .setGeneratedTokens(generatedTokens)).build();
    }

    public static MultiGenerationReply of(List<Response> responses, double seconds) {
        MultiGenerationReply.Builder b = MultiGenerationReply.newBuilder();
        for (Response r : responses) {
            b.addResponse(of(r, seconds));
        }
        return b.build();
    }

    public static Response toResponse(SingleGenerationReply r) {
        return toResponse(r.getResponse(), r);
    }

    /** A response with {@code text} and the counts and finish reason of {@code last}. */
    public static Response toResponse(String text, SingleGenerationReply last) {
        return new Response(text, (int) last.getPromptTokens(), (int) last.getGeneratedTokens(),
                finishReason(last.getFinishReason()), last.getTokenIdsList().stream().map(Long::intValue).toList(),
                fromWire(last.getLogprobsList()));
    }

    public static Response.FinishReason finishReason(String wire) {
        return switch (wire.toLowerCase(Locale.ROOT)) {
            case "length" -> Response.FinishReason.LENGTH;
            case "cancelled" -> Response.FinishReason.CANCELLED;
            default -> Response.FinishReason.STOP;
        };
    }
}
