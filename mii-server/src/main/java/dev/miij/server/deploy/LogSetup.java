package dev.miij.server.deploy;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.Locale;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * One-line logs on stderr for deployment processes: {@code 12:00:01.234 [replica 1] message}.
 *
 * <pre>{@code
 * LogSetup.install("frontend", false);
 * LogSetup.log(LOG, Level.INFO, "stopping");   // also printed during JVM shutdown
 * }</pre>
 */
public final class LogSetup {

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
    // Held strongly: the log manager keeps loggers weakly, and a collected logger forgets its level.
    private static final Logger MIIJ = Logger.getLogger("dev.miij");
    private static volatile Handler installed;

    private LogSetup() {
    }

    /** Logs MII-J at INFO (FINE with {@code debug}) and everything else (gRPC, Netty) at WARNING. */
    public static void install(String component, boolean debug) {
        Logger root = Logger.getLogger("");
        for (Handler h : root.getHandlers()) {
            root.removeHandler(h);
        }
        // Not a ConsoleHandler: giving one another stream closes the one it had, System.err itself.
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (isLoggable(r)) {
                    System.err.print(getFormatter().format(r));
                    System.err.flush();
                }
            }

            @Override
            public void flush() {
                System.err.flush();
            }

            @Override
            public void close() {
                flush();
            }
        };
        h.setLevel(Level.ALL);
        h.setFormatter(new LineFormatter(component, debug));
        root.addHandler(h);
        root.setLevel(Level.WARNING);
        MIIJ.setLevel(debug ? Level.FINE : Level.INFO);
        installed = h;
    }

    /**
     * Logs through {@code logger}, or straight to stderr in the installed format once the JVM's shutdown
     * has reset logging (the log manager's own shutdown hook removes every handler, which would
     * silence what a deployment says while it stops on SIGTERM or Ctrl-C).
     */
    public static void log(Logger logger, Level level, String message) {
        Handler h = installed;
        if (h != null && !Arrays.asList(Logger.getLogger("").getHandlers()).contains(h)) {
            if (level.intValue() < Level.INFO.intValue()) {
                return;
            }
            LogRecord r = new LogRecord(level, message);
            r.setLoggerName(logger.getName());
            System.err.print(h.getFormatter().format(r));
            System.err.flush();
            return;
        }
        logger.log(level, message);
    }

    private static final class LineFormatter extends Formatter {
        private final String component;
        private final boolean debug;

        LineFormatter(String component, boolean debug) {
            this.component = component;
            this.debug = debug;
        }

        @Override
        public String format(LogRecord r) {
            StringBuilder b = new StringBuilder();
            b.append(LocalTime.now().format(TIME)).append(" [").append(component).append("] ");
            if (r.getLevel() != Level.INFO) {
                b.append(r.getLevel().getName().toLowerCase(Locale.ROOT)).append(": ");
            }
            b.append(formatMessage(r)).append('\n');
            if (r.getThrown() != null && (debug || r.getLevel().intValue() >= Level.SEVERE.intValue())) {
                StringWriter sw = new StringWriter();
                r.getThrown().printStackTrace(new PrintWriter(sw));
                b.append(sw);
            }
            return b.toString();
        }
    }
}
