package dev.miij.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.miij.MiiException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

class GrpcStatusTest {

    @Test
    void everyKindRoundTripsThroughItsCode() {
        for (MiiException.Kind k : MiiException.Kind.values()) {
            StatusRuntimeException s = GrpcStatus.toStatus(new MiiException(k, "m " + k));
            MiiException back = GrpcStatus.toMii(s);
            assertEquals(k, back.kind());
            assertEquals("m " + k, back.getMessage());
        }
    }

    @Test
    void mapsKindsToTheDocumentedCodes() {
        assertEquals(Status.Code.FAILED_PRECONDITION, GrpcStatus.code(MiiException.Kind.UNSUPPORTED));
        assertEquals(Status.Code.DATA_LOSS, GrpcStatus.code(MiiException.Kind.CORRUPT));
        assertEquals(Status.Code.UNAVAILABLE, GrpcStatus.code(MiiException.Kind.IO));
    }

    @Test
    void unwrapsFuturesAndPassesStatusesThrough() {
        StatusRuntimeException s = Status.NOT_FOUND.withDescription("x").asRuntimeException();
        assertSame(s, GrpcStatus.toStatus(new CompletionException(s)));
        assertEquals(Status.Code.INVALID_ARGUMENT,
                GrpcStatus.toStatus(new CompletionException(MiiException.invalid("bad"))).getStatus().getCode());
        assertEquals(Status.Code.INTERNAL, GrpcStatus.toStatus(new IllegalStateException("bug")).getStatus().getCode());
        assertEquals(MiiException.Kind.IO, GrpcStatus.toMii(Status.DEADLINE_EXCEEDED.asRuntimeException()).kind());
    }
}
