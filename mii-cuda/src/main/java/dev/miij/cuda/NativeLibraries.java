package dev.miij.cuda;

import dev.miij.MiiException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Finds and opens the NVIDIA shared libraries. Each library is looked for, in order, in
 * {@code $CUDA_HOME}, through the dynamic loader's own search (LD_LIBRARY_PATH, the ld.so cache),
 * in {@code /usr/local/cuda}, and in the {@code nvidia/*}{@code /lib} folders of Python wheels
 * (site-packages of the active virtual environment, PYTHONPATH and the usual system locations), so
 * a machine with only PyTorch installed works as well as one with a full toolkit.
 */
// Binding native code is what this class is for; the JVM runs with --enable-native-access.
@SuppressWarnings("restricted")
public final class NativeLibraries {

    private NativeLibraries() {
    }

    /** Opens the first of {@code sonames} found; the lookup lives as long as the process. */
    public static SymbolLookup open(String what, String... sonames) {
        List<String> tried = new ArrayList<>();
        for (Path dir : toolkitDirs(System.getenv("CUDA_HOME"))) {
            SymbolLookup l = tryDir(dir, sonames, tried);
            if (l != null) {
                return l;
            }
        }
        for (String name : sonames) {
            try {
                return SymbolLookup.libraryLookup(name, Arena.global());
            } catch (IllegalArgumentException e) {
                tried.add(name + " (loader path)");
            }
        }
        List<Path> fallback = new ArrayList<>(toolkitDirs("/usr/local/cuda"));
        fallback.add(Path.of("/usr/local/nvidia/lib64"));
        fallback.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        fallback.add(Path.of("/usr/lib64"));
        fallback.addAll(wheelLibDirs());
        for (Path dir : fallback) {
            SymbolLookup l = tryDir(dir, sonames, tried);
            if (l != null) {
                return l;
            }
        }
        throw MiiException.unsupported("cannot find " + what + " (" + String.join(", ", sonames)
                + "); set CUDA_HOME or LD_LIBRARY_PATH to a CUDA 12/13 installation. Tried: " + String.join(", ", tried));
    }

    private static SymbolLookup tryDir(Path dir, String[] sonames, List<String> tried) {
        if (dir == null || !Files.isDirectory(dir)) {
            return null;
        }
        for (String name : sonames) {
            Path p = dir.resolve(name);
            if (Files.exists(p)) {
                try {
                    return SymbolLookup.libraryLookup(p, Arena.global());
                } catch (IllegalArgumentException e) {
                    tried.add(p + " (" + e.getMessage() + ")");
                }
            } else {
                tried.add(p.toString());
            }
        }
        return null;
    }

    private static List<Path> toolkitDirs(String home) {
        if (home == null || home.isBlank()) {
            return List.of();
        }
        Path h = Path.of(home);
        return List.of(h.resolve("lib64"), h.resolve("lib"), h.resolve("targets/x86_64-linux/lib"),
                h.resolve("targets/sbsa-linux/lib"));
    }

    /** {@code nvidia/<package>/lib} (and CUDA 13's {@code nvidia/cu13/lib}) under every site-packages we can think of. */
    static List<Path> wheelLibDirs() {
        Set<Path> sites = new LinkedHashSet<>();
        String pythonPath = System.getenv("PYTHONPATH");
        if (pythonPath != null) {
            for (String p : pythonPath.split(":")) {
                if (!p.isBlank()) {
                    sites.add(Path.of(p));
                }
            }
        }
        String venv = System.getenv("VIRTUAL_ENV");
        List<Path> prefixes = new ArrayList<>();
        if (venv != null) {
            prefixes.add(Path.of(venv));
        }
        prefixes.add(Path.of("/usr"));
        prefixes.add(Path.of("/usr/local"));
        prefixes.add(Path.of(System.getProperty("user.home"), ".local"));
        for (Path prefix : prefixes) {
            for (Path lib : children(prefix.resolve("lib"), "python3*")) {
                sites.add(lib.resolve("site-packages"));
                sites.add(lib.resolve("dist-packages"));
            }
        }
        // Virtual environments that tools put under /opt (a PyTorch image's own venv, for one).
        for (Path opt : children(Path.of("/opt"), "*")) {
            for (Path lib : children(opt.resolve(".venv/lib"), "python3*")) {
                sites.add(lib.resolve("site-packages"));
            }
        }
        List<Path> out = new ArrayList<>();
        for (Path site : sites) {
            for (Path pkg : children(site.resolve("nvidia"), "*")) {
                out.add(pkg.resolve("lib"));
            }
        }
        return out;
    }

    private static List<Path> children(Path dir, String glob) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, glob)) {
            ds.forEach(out::add);
        } catch (IOException | SecurityException e) {
            // An unreadable folder is one place less to look.
        }
        out.sort(null);
        return out;
    }
}
