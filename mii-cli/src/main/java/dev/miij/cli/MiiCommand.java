package dev.miij.cli;

import dev.miij.MiiException;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code mii} command: generate, serve, client, terminate, list, bench, load-bench, download. */
@Command(name = "mii", mixinStandardHelpOptions = true, version = "MII-J 0.1.0",
        description = "Low-latency, high-throughput inference of Hugging Face transformer models.",
        subcommands = {GenerateCommand.class, BenchCommand.class, DownloadCommand.class, ServeCommand.class, ClientCommand.class, TerminateCommand.class, ListCommand.class, LoadBenchCommand.class, K8sCommand.class,
                WorkerCommand.class})
public final class MiiCommand implements Runnable {

    @Override
    public void run() {
        new CommandLine(this).usage(System.err);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns its exit code: 0 ok, 1 a user-facing error, 2 bad usage, 3 a bug. */
    static int execute(String... args) {
        boolean debug = java.util.Arrays.asList(args).contains("--debug");
        Logger root = Logger.getLogger("");
        root.setLevel(debug ? Level.FINE : Level.WARNING);
        CommandLine cli = new CommandLine(new MiiCommand());
        cli.setExecutionExceptionHandler((thrown, commandLine, parseResult) -> {
            Exception ex = thrown;
            // A request's error as a future delivers it (a streamed generation, say): the error itself.
            while ((ex instanceof java.util.concurrent.CompletionException || ex instanceof java.util.concurrent.ExecutionException)
                    && ex.getCause() instanceof Exception cause) {
                ex = cause;
            }
            if (ex instanceof MiiException me) {
                System.err.println("error: " + me.getMessage());
                if (debug) {
                    me.printStackTrace();
                }
                return 1;
            }
            System.err.println("error: " + ex);
            if (debug) {
                ex.printStackTrace();
            } else {
                System.err.println("(run with --debug for the stack trace)");
            }
            return 3;
        });
        cli.setParameterExceptionHandler((ex, a) -> {
            System.err.println("error: " + ex.getMessage());
            ex.getCommandLine().usage(System.err);
            return 2;
        });
        return cli.execute(args);
    }
}
