package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.math.BigInteger;

/**
 * Reads a JSON number into a double the way the reference's JSON parser (serde_json, built
 * without its exact "float_roundtrip" mode) does: the decimal digits are gathered into a u64,
 * dropping those that would overflow it, then multiplied or divided once by a power of ten.
 * That is sometimes one unit in the last place away from the correctly rounded value Java
 * computes, and Unigram scores that tie up to that last bit then segment differently.
 */
final class SerdeFloat {

    private static final double[] POW10 = new double[309];
    private static final long U64_MAX_DIV_10 = Long.divideUnsigned(-1L, 10);
    private static final long U64_MAX_MOD_10 = Long.remainderUnsigned(-1L, 10);

    static {
        for (int i = 0; i < POW10.length; i++) {
            POW10[i] = Double.parseDouble("1e" + i);
        }
    }

    private SerdeFloat() {}

    /**
     * The value of a number node. Only nodes that kept their decimal digits (parsed with
     * {@code USE_BIG_DECIMAL_FOR_FLOATS}) can be read the reference's way; others are taken as is.
     */
    static double value(JsonNode node) {
        if (node.isBigDecimal()) {
            return parse(node.decimalValue());
        }
        return node.asDouble();
    }

    static double parse(BigDecimal decimal) {
        String digits = decimal.unscaledValue().abs().toString();
        int exponent = -decimal.scale();
        long significand = 0; // unsigned
        for (int i = 0; i < digits.length(); i++) {
            int digit = digits.charAt(i) - '0';
            int cmp = Long.compareUnsigned(significand, U64_MAX_DIV_10);
            if (cmp > 0 || (cmp == 0 && digit > U64_MAX_MOD_10)) {
                // The next digit would overflow a u64: it and all that follow only scale the value.
                exponent += digits.length() - i;
                break;
            }
            significand = significand * 10 + digit;
        }
        double f = significand >= 0
                ? (double) significand
                : new BigInteger(Long.toUnsignedString(significand)).doubleValue();
        while (true) {
            int abs = Math.abs(exponent);
            if (abs < POW10.length) {
                f = exponent >= 0 ? f * POW10[abs] : f / POW10[abs];
                break;
            }
            if (f == 0.0) {
                break;
            }
            if (exponent >= 0) {
                f = Double.POSITIVE_INFINITY;
                break;
            }
            f /= 1e308;
            exponent += 308;
        }
        return decimal.signum() < 0 ? -f : f;
    }
}
