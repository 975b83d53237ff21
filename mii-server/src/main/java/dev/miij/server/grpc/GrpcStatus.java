package dev.miij.server.grpc;

import dev.miij.MiiException;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * The one place where MII-J's error kinds meet gRPC status codes, in both directions: servers turn
 * a {@link MiiException} into a status, clients turn a status back into a {@link MiiException}.
 *
 * <pre>{@code
 * observer.onError(GrpcStatus.toStatus(error));      // server: INVALID_ARGUMENT, NOT_FOUND, ...
 * throw GrpcStatus.toMii(statusRuntimeException);    // client: the same kind and message
 * }</pre>
 */
public final class GrpcStatus {

    private GrpcStatus() {
    }

    /** The gRPC code a kind of error travels as. */
    public static Status.Code code(MiiException.Kind kind) {
        return switch (kind) {
            case INVALID_ARGUMENT -> Status.Code.INVALID_ARGUMENT;
            case NOT_FOUND -> Status.Code.NOT_FOUND;
            case UNSUPPORTED -> Status.Code.FAILED_PRECONDITION;
            case CORRUPT -> Status.Code.DATA_LOSS;
            case IO -> Status.Code.UNAVAILABLE;
            case RESOURCE_EXHAUSTED -> Status.Code.RESOURCE_EXHAUSTED;
            case CANCELLED -> Status.Code.CANCELLED;
            case INTERNAL -> Status.Code.INTERNAL;
            case UNAUTHENTICATED -> Status.Code.UNAUTHENTICATED;
        };
    }

    /** The kind of error a gRPC code stands for (codes MII-J never sends fold into the nearest kind). */
    public static MiiException.Kind kind(Status.Code code) {
        return switch (code) {
            case INVALID_ARGUMENT, OUT_OF_RANGE -> MiiException.Kind.INVALID_ARGUMENT;
            case NOT_FOUND -> MiiException.Kind.NOT_FOUND;
            case FAILED_PRECONDITION, UNIMPLEMENTED -> MiiException.Kind.UNSUPPORTED;
            case DATA_LOSS -> MiiException.Kind.CORRUPT;
            case UNAVAILABLE, DEADLINE_EXCEEDED -> MiiException.Kind.IO;
            case RESOURCE_EXHAUSTED -> MiiException.Kind.RESOURCE_EXHAUSTED;
            case CANCELLED -> MiiException.Kind.CANCELLED;
            case UNAUTHENTICATED, PERMISSION_DENIED -> MiiException.Kind.UNAUTHENTICATED;
            default -> MiiException.Kind.INTERNAL;
        };
    }

    /** A server-side failure as the status to send; statuses pass through unchanged. */
    public static StatusRuntimeException toStatus(Throwable t) {
        Throwable e = unwrap(t);
        if (e instanceof StatusRuntimeException sre) {
            return sre;
        }
        if (e instanceof StatusException se) {
            return se.getStatus().asRuntimeException(se.getTrailers());
        }
        if (e instanceof MiiException me) {
            return Status.fromCode(code(me.kind())).withDescription(me.getMessage()).asRuntimeException();
        }
        // Anything else is a bug; say what it was rather than sending a bare INTERNAL.
        return Status.INTERNAL.withDescription(String.valueOf(e)).withCause(e).asRuntimeException();
    }

    /** A client-side failure as a {@link MiiException} carrying the server's message. */
    public static MiiException toMii(Throwable t) {
        Throwable e = unwrap(t);
        if (e instanceof MiiException me) {
            return me;
        }
        Status s = Status.fromThrowable(e);
        String message = s.getDescription() != null ? s.getDescription() : "gRPC status " + s.getCode();
        return new MiiException(kind(s.getCode()), message, e);
    }

    static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }
}
