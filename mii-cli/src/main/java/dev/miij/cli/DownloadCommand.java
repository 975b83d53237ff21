package dev.miij.cli;

import dev.miij.model.HfHub;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code mii download}: fetch a model into the Hugging Face cache. */
@Command(name = "download", mixinStandardHelpOptions = true,
        description = "Download a Hugging Face model (org/name[@revision]) into the standard cache and print its folder.")
final class DownloadCommand implements Callable<Integer> {

    @Parameters(paramLabel = "ID", description = "Model id, e.g. Qwen/Qwen3-0.6B")
    String id;

    @Option(names = "--debug", description = "Show stack traces on errors.")
    boolean debug;

    @Override
    public Integer call() {
        System.out.println(HfHub.resolve(id));
        return 0;
    }
}
