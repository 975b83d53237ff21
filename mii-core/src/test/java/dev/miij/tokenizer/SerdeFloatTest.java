package dev.miij.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.math.BigDecimal;
import org.junit.jupiter.api.Test;

class SerdeFloatTest {

    /** Pairs of (text in the file, value the reference reads), observed with tokenizers 0.23. */
    @Test
    void readsScoresLikeTheReference() {
        assertRead("-1.9780091031141742", -1.9780091031141744);
        assertRead("-7.6547590500617275", -7.654759050061728);
        assertRead("-7.6871381763176885", -7.687138176317688);
        assertRead("-9.032349212882071", -9.032349212882073);
        assertRead("-9.750982878719277", -9.750982878719276);
    }

    @Test
    void agreesWithJavaOnSimpleValues() {
        for (String s : new String[] {"0.5", "-20.0", "1e-7", "3.14159", "123456789.125", "2.5E10"}) {
            assertRead(s, Double.parseDouble(s));
        }
        assertRead("1e-400", 0.0);
        assertRead("12345678901234567890123.5", 1.2345678901234567e22);
    }

    private static void assertRead(String text, double expected) {
        assertEquals(expected, SerdeFloat.parse(new BigDecimal(text)), text);
    }
}
