package dev.miij;

/**
 * The one exception type MII-J throws for problems a user can act on: a missing model folder, an
 * unsupported architecture, a corrupt checkpoint, an invalid option, a prompt that does not fit.
 *
 * <p>{@link #kind()} says which family of problem it is, so that the command line, HTTP and gRPC
 * layers map it to an exit code or status in one place; the message is written for the user.
 */
public class MiiException extends RuntimeException {

    /** Families of user-facing errors; each maps to one HTTP and one gRPC status. */
    public enum Kind {
        /** An option or request field has a bad value (HTTP 400, INVALID_ARGUMENT). */
        INVALID_ARGUMENT,
        /** The model, deployment or file named does not exist (HTTP 404, NOT_FOUND). */
        NOT_FOUND,
        /** The model exists but MII-J cannot run it, e.g. an unknown model_type (HTTP 400, FAILED_PRECONDITION). */
        UNSUPPORTED,
        /** A file is truncated, corrupt or inconsistent with its header (HTTP 500, DATA_LOSS). */
        CORRUPT,
        /** Network or disk trouble while fetching or reading (HTTP 502, UNAVAILABLE). */
        IO,
        /** Out of capacity: KV cache, queue, memory (HTTP 503, RESOURCE_EXHAUSTED). */
        RESOURCE_EXHAUSTED,
        /** The request was cancelled (HTTP 499, CANCELLED). */
        CANCELLED,
        /** A bug in MII-J (HTTP 500, INTERNAL). */
        INTERNAL,
        /** The API key is missing or wrong (HTTP 401, UNAUTHENTICATED). */
        UNAUTHENTICATED
    }

    private final Kind kind;

    public MiiException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public MiiException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    public static MiiException invalid(String message) {
        return new MiiException(Kind.INVALID_ARGUMENT, message);
    }

    public static MiiException notFound(String message) {
        return new MiiException(Kind.NOT_FOUND, message);
    }

    public static MiiException unsupported(String message) {
        return new MiiException(Kind.UNSUPPORTED, message);
    }

    public static MiiException corrupt(String message) {
        return new MiiException(Kind.CORRUPT, message);
    }

    public static MiiException corrupt(String message, Throwable cause) {
        return new MiiException(Kind.CORRUPT, message, cause);
    }

    public static MiiException io(String message, Throwable cause) {
        return new MiiException(Kind.IO, message, cause);
    }
}
