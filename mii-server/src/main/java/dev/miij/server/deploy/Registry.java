package dev.miij.server.deploy;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.MiiException;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * The deployments running on this host, one {@code NAME.json} per deployment in a state directory
 * ({@code $MII_STATE_DIR}, default {@code ~/.cache/mii/deployments}), so that any process can find a
 * deployment by name. The front end writes its entry and removes it when it stops; an entry whose
 * front end process is gone (killed, crashed) is stale: readers ignore and delete it.
 *
 * <pre>{@code
 * Optional<RegistryEntry> e = Registry.fromEnvironment().find("kjv-demo");
 * }</pre>
 */
public final class Registry {

    /** Environment variable naming the state directory; the system property {@value #PROPERTY} wins over it. */
    public static final String ENV = "MII_STATE_DIR";
    public static final String PROPERTY = "mii.state.dir";

    private static final Logger LOG = Logger.getLogger(Registry.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    // Start times are derived from clock ticks since boot; allow for rounding between readings.
    private static final long START_TOLERANCE_MILLIS = 1000;

    private final Path dir;

    public Registry(Path dir) {
        this.dir = dir;
    }

    public static Registry fromEnvironment() {
        String p = System.getProperty(PROPERTY);
        if (p == null || p.isBlank()) {
            p = System.getenv(ENV);
        }
        if (p == null || p.isBlank()) {
            return new Registry(Path.of(System.getProperty("user.home"), ".cache", "mii", "deployments"));
        }
        return new Registry(Path.of(p));
    }

    public Path dir() {
        return dir;
    }

    Path file(String name) {
        return dir.resolve(name + ".json");
    }

    Path keyFile(String name) {
        return dir.resolve(name + ".replica-key");
    }

    /**
     * Records the key the replicas of {@code name} require, readable by this user only (as the
     * replicas' environment is), for tools of this host that talk to a replica directly
     * ({@code mii load-bench --frontend-overhead}); removed with the entry.
     */
    public void writeReplicaKey(String name, String key) {
        try {
            Files.createDirectories(dir);
            // A temporary file is created owner-only (rw-------) and keeps that mode when moved.
            Path tmp = Files.createTempFile(dir, name + ".", ".tmp");
            try {
                Files.writeString(tmp, key);
                Files.move(tmp, keyFile(name), StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException x) {
            throw MiiException.io("cannot write the deployment registry in " + dir + ": " + x.getMessage(), x);
        }
    }

    /** The key the replicas of the live deployment {@code name} require, if it recorded one. */
    public Optional<String> replicaKey(String name) {
        if (find(name).isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(Files.readString(keyFile(name)).strip()).filter(k -> !k.isEmpty());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Where a detached front end writes its log. */
    public Path logFile(String name) {
        return dir.resolve(name + ".log");
    }

    /** The live deployment of this name, if any (a stale entry is deleted). */
    public Optional<RegistryEntry> find(String name) {
        Path f = file(name);
        if (!Files.isRegularFile(f)) {
            return Optional.empty();
        }
        Optional<RegistryEntry> e = read(f);
        if (e.isPresent() && !alive(e.get())) {
            deleteStale(f, e.get());
            return Optional.empty();
        }
        return e;
    }

    /** Every live deployment, by name (stale entries are deleted). */
    public List<RegistryEntry> list() {
        List<RegistryEntry> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.json")) {
            for (Path f : files) {
                Optional<RegistryEntry> e = read(f);
                if (e.isEmpty()) {
                    continue;
                }
                if (alive(e.get())) {
                    out.add(e.get());
                } else {
                    deleteStale(f, e.get());
                }
            }
        } catch (IOException e) {
            throw MiiException.io("cannot list deployments in " + dir + ": " + e.getMessage(), e);
        }
        out.sort(Comparator.comparing(RegistryEntry::name));
        return out;
    }

    /** Records an entry; readers never see a half-written file. */
    public void write(RegistryEntry e) {
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, e.name() + ".", ".tmp");
            try {
                JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), e);
                try {
                    Files.move(tmp, file(e.name()), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException x) {
                    Files.move(tmp, file(e.name()), StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException x) {
            throw MiiException.io("cannot write the deployment registry in " + dir + ": " + x.getMessage(), x);
        }
    }

    /** Removes the entry of {@code name} if it still belongs to process {@code pid}. */
    public void remove(String name, long pid) {
        Path f = file(name);
        Optional<RegistryEntry> e = read(f);
        if (e.isPresent() && e.get().pid() == pid) {
            try {
                Files.deleteIfExists(keyFile(name));
                Files.deleteIfExists(f);
            } catch (IOException x) {
                LOG.warning("cannot remove " + f + ": " + x.getMessage());
            }
        }
    }

    private Optional<RegistryEntry> read(Path f) {
        try {
            return Optional.of(JSON.readValue(f.toFile(), RegistryEntry.class));
        } catch (IOException e) {
            // Missing (removed meanwhile) or not ours: not a deployment.
            return Optional.empty();
        }
    }

    private void deleteStale(Path f, RegistryEntry e) {
        LOG.fine("removing stale registry entry " + f + " (pid " + e.pid() + " is gone)");
        try {
            // Only if it was not rewritten by a new deployment of the same name meanwhile.
            Optional<RegistryEntry> now = read(f);
            if (now.isPresent() && now.get().pid() == e.pid()) {
                Files.deleteIfExists(keyFile(e.name()));
                Files.deleteIfExists(f);
            }
        } catch (IOException x) {
            LOG.fine("cannot remove " + f + ": " + x.getMessage());
        }
    }

    /** The entry's front end process is running (and is not another process that got its pid). */
    static boolean alive(RegistryEntry e) {
        Optional<ProcessHandle> p = ProcessHandle.of(e.pid());
        if (p.isEmpty() || !p.get().isAlive()) {
            return false;
        }
        if (e.pidStart() < 0) {
            return true;
        }
        Optional<Instant> start = p.get().info().startInstant();
        return start.isEmpty() || Math.abs(start.get().toEpochMilli() - e.pidStart()) <= START_TOLERANCE_MILLIS;
    }

    /** This process's start time for {@link RegistryEntry#pidStart()}. */
    static long startOf(ProcessHandle p) {
        return p.info().startInstant().map(Instant::toEpochMilli).orElse(-1L);
    }
}
