package dev.miij.cli;

import dev.miij.MiiException;
import java.util.Locale;

/** Parses sizes such as 512m, 2g, 1048576. */
final class Sizes {

    private Sizes() {
    }

    static long parseBytes(String flag, String text) {
        String t = text.trim().toLowerCase(Locale.ROOT).replace("ib", "").replace("b", "");
        long unit = 1;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'k' -> unit = 1L << 10;
                case 'm' -> unit = 1L << 20;
                case 'g' -> unit = 1L << 30;
                case 't' -> unit = 1L << 40;
                default -> unit = 1;
            }
        }
        String digits = unit == 1 ? t : t.substring(0, t.length() - 1);
        try {
            double v = Double.parseDouble(digits);
            if (v <= 0 || !Double.isFinite(v)) {
                throw new NumberFormatException();
            }
            return (long) (v * unit);
        } catch (NumberFormatException e) {
            throw MiiException.invalid(flag + " must be a positive size such as 512m or 2g, got '" + text + "'");
        }
    }
}
