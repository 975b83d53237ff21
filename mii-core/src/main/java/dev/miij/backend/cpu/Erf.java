package dev.miij.backend.cpu;

/** The error function, for exact GELU; Java's Math has none. */
final class Erf {

    private Erf() {
    }

    /** erf(x) to about 1e-12 relative via its Taylor series near 0 and the continued-fraction erfc beyond. */
    static double erf(double x) {
        double ax = Math.abs(x);
        if (ax < 2.5) {
            // Taylor series: erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
            double term = ax;
            double sum = ax;
            double x2 = ax * ax;
            for (int n = 1; n < 60; n++) {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) {
                    break;
                }
            }
            double r = 2 / Math.sqrt(Math.PI) * sum;
            return x < 0 ? -r : r;
        }
        // Lentz continued fraction for erfc
        double tiny = 1e-300;
        double f = ax;
        double c = ax;
        double d = 0;
        for (int n = 1; n < 200; n++) {
            double a = n / 2.0;
            d = ax + a * d;
            d = d == 0 ? tiny : d;
            c = ax + a / c;
            c = c == 0 ? tiny : c;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.abs(delta - 1) < 1e-16) {
                break;
            }
        }
        double erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
        double r = 1 - erfc;
        return x < 0 ? -r : r;
    }
}
