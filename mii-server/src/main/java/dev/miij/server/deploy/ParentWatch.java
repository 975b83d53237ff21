package dev.miij.server.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.util.logging.Logger;

/**
 * Ends a replica whose front end is gone, however it went (even SIGKILL), so no replica outlives its
 * deployment. Two signals, whichever comes first: EOF on stdin (the front end holds the pipe's other
 * end, which the kernel closes when it dies) and the parent process's exit.
 */
final class ParentWatch {

    private static final Logger LOG = Logger.getLogger(ParentWatch.class.getName());

    private ParentWatch() {
    }

    static void start() {
        ProcessHandle.current().parent().ifPresentOrElse(
                p -> p.onExit().thenRun(() -> gone("the front end process " + p.pid() + " exited")),
                () -> gone("no front end process"));
        Thread.ofPlatform().daemon(true).name("mii-parent-watch").start(() -> {
            InputStream in = System.in;
            byte[] buf = new byte[256];
            try {
                while (in.read(buf) >= 0) {
                    // The front end never writes; anything read is ignored.
                }
            } catch (IOException e) {
                // A broken pipe means the same as EOF.
            }
            gone("the front end closed its pipe");
        });
    }

    private static void gone(String why) {
        LOG.warning(why + "; stopping");
        System.exit(0);
    }
}
