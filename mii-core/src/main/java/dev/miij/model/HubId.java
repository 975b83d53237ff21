package dev.miij.model;

import dev.miij.MiiException;
import java.util.regex.Pattern;

/** A Hugging Face model id {@code org/name}, with the revision after an optional {@code @} (default {@code main}). */
record HubId(String repoId, String revision) {

    static final String DEFAULT_REVISION = "main";

    // The hub's own rule: letters, digits, '-', '_', '.'; no leading '-'/'.', no "--" or "..", at most 96 characters a part.
    private static final Pattern PART = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,95}");
    private static final Pattern REVISION = Pattern.compile("[A-Za-z0-9_.][A-Za-z0-9_./-]{0,255}");

    /** Whether {@code s} has the shape of a hub id, with or without {@code @revision}. */
    static boolean looksLikeHubId(String s) {
        int at = s.indexOf('@');
        String repo = at < 0 ? s : s.substring(0, at);
        // The revision names a file under refs/, so ".." must not climb out of it.
        if (at >= 0 && (!REVISION.matcher(s.substring(at + 1)).matches() || s.substring(at + 1).contains(".."))) {
            return false;
        }
        String[] parts = repo.split("/", -1);
        if (parts.length != 2) {
            return false;
        }
        for (String p : parts) {
            if (!PART.matcher(p).matches() || p.contains("--") || p.contains("..") || p.endsWith(".") || p.endsWith("-")) {
                return false;
            }
        }
        return true;
    }

    static HubId parse(String s) {
        if (!looksLikeHubId(s)) {
            throw MiiException.invalid("'" + s + "' is not a Hugging Face model id; expected org/name or org/name@revision");
        }
        int at = s.indexOf('@');
        return at < 0 ? new HubId(s, DEFAULT_REVISION) : new HubId(s.substring(0, at), s.substring(at + 1));
    }

    /** Whether the revision is already a full commit hash, which needs no ref file. */
    boolean revisionIsCommit() {
        return revision.matches("[0-9a-f]{40}");
    }

    @Override
    public String toString() {
        return revision.equals(DEFAULT_REVISION) ? repoId : repoId + "@" + revision;
    }
}
