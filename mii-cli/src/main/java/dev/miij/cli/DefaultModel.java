package dev.miij.cli;

import dev.miij.MiiException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The model used when none is named: the demo model shipped in the repository's models/ folder. */
final class DefaultModel {

    static final String FOLDER = "models/kjv-demo";

    private DefaultModel() {
    }

    static String resolve(String model) {
        if (model != null) {
            return model;
        }
        String home = System.getProperty("mii.home");
        Path p = home != null ? Path.of(home, FOLDER) : Path.of(FOLDER);
        if (!Files.isDirectory(p)) {
            throw MiiException.invalid("no --model given and the bundled demo model is missing at " + p.toAbsolutePath()
                    + "; pass --model DIR_OR_ID");
        }
        return p.toString();
    }
}
