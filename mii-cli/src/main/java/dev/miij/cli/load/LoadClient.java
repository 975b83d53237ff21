package dev.miij.cli.load;

/**
 * Sends one fixed generation request to a deployment and waits for the whole answer. Thread-safe:
 * one instance serves every concurrent client of a run.
 */
public interface LoadClient extends AutoCloseable {

    /**
     * Sends the request once. A streamed request succeeds only when its stream ended as the protocol
     * says it must (OpenAI and MII's REST gateway: a finish reason, then {@code [DONE]}).
     *
     * @return the output tokens the deployment reports having generated and, for a stream, when its first
     *         text arrived
     * @throws Exception on any failure (an error status, a timeout, a refused connection): the run
     *                   counts it as an error and goes on
     */
    Answer send() throws Exception;

    /**
     * A successful request.
     *
     * @param tokens           output tokens, as the deployment reports them
     * @param firstOutputNanos a stream's time from sending to its first generated text; -1 when not streamed
     */
    record Answer(long tokens, long firstOutputNanos) {
        /** A request answered whole (not streamed). */
        public static Answer whole(long tokens) {
            return new Answer(tokens, -1);
        }
    }

    /** What is requested where, for reports: "POST http://127.0.0.1:28080/v1/completions". */
    String describe();

    @Override
    void close();

    /**
     * A request answered with an error; its message is what reports show. {@code afterOutput}: a
     * streamed request failed after some of its output had arrived (a replica lost mid-stream can only
     * end such a stream; one that had sent nothing must be retried elsewhere and never fail).
     */
    final class Failure extends Exception {
        private final boolean afterOutput;

        public Failure(String message) {
            this(message, false);
        }

        public Failure(String message, boolean afterOutput) {
            super(message, null, false, false);
            this.afterOutput = afterOutput;
        }

        public boolean afterOutput() {
            return afterOutput;
        }
    }
}
