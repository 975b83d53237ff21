package dev.miij.cli.load;

/**
 * Sends one fixed generation request to a deployment and waits for the whole answer. Thread-safe:
 * one instance serves every concurrent client of a run.
 */
public interface LoadClient extends AutoCloseable {

    /**
     * Sends the request once.
     *
     * @return the output tokens the deployment reports having generated
     * @throws Exception on any failure (an error status, a timeout, a refused connection): the run
     *                   counts it as an error and goes on
     */
    long send() throws Exception;

    /** What is requested where, for reports: "POST http://127.0.0.1:28080/v1/completions". */
    String describe();

    @Override
    void close();

    /** A request answered with an error; its message is what reports show. */
    final class Failure extends Exception {
        public Failure(String message) {
            super(message, null, false, false);
        }
    }
}
