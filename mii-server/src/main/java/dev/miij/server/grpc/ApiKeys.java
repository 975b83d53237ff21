package dev.miij.server.grpc;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * The deployment's API key on gRPC, as on HTTP: every call carries {@code authorization: Bearer KEY}
 * metadata. The server side refuses a call without it (or with another key) with UNAUTHENTICATED before
 * the call reaches the service; the client side adds it to every call.
 *
 * <pre>{@code
 * ServerInterceptors.intercept(service, ApiKeys.server("s3cret"));
 * NettyChannelBuilder.forAddress(host, port).intercept(ApiKeys.client("s3cret"));
 * }</pre>
 */
public final class ApiKeys {

    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final String BEARER = "Bearer ";

    private ApiKeys() {
    }

    /** Checks each call's key; {@code key} must not be empty. */
    public static ServerInterceptor server(String key) {
        byte[] expected = key.getBytes(StandardCharsets.UTF_8);
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                              ServerCallHandler<Q, R> next) {
                String header = headers.get(AUTHORIZATION);
                String given = header != null && header.regionMatches(true, 0, BEARER, 0, BEARER.length())
                        ? header.substring(BEARER.length()).strip() : null;
                if (given == null || !MessageDigest.isEqual(expected, given.getBytes(StandardCharsets.UTF_8))) {
                    call.close(Status.UNAUTHENTICATED.withDescription(given == null
                            ? "missing API key: send it as 'authorization: Bearer KEY' metadata (mii: --api-key or MII_API_KEY)"
                            : "incorrect API key provided"), new Metadata());
                    return new ServerCall.Listener<>() {
                    };
                }
                return next.startCall(call, headers);
            }
        };
    }

    /** Adds {@code key} to each call. */
    public static ClientInterceptor client(String key) {
        String value = BEARER + key;
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
                return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
                    @Override
                    public void start(Listener<R> listener, Metadata headers) {
                        headers.put(AUTHORIZATION, value);
                        super.start(listener, headers);
                    }
                };
            }
        };
    }
}
