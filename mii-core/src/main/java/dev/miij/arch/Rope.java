package dev.miij.arch;

/**
 * Rotary position embedding as Hugging Face computes it: the first {@code rotaryDim} channels of
 * each head are rotated in "rotate-half" pairs (i, i + rotaryDim/2) by angle {@code position *
 * invFreq[i]}.
 *
 * @param rotaryDim channels of a head that rotate (headDim unless partial_rotary_factor < 1)
 * @param invFreq   rotaryDim/2 inverse frequencies, with any rope scaling already applied
 * @param attentionFactor multiplier applied to cos and sin (1 except for YaRN-style scalings)
 */
public record Rope(int rotaryDim, double[] invFreq, double attentionFactor) {

    public Rope {
        if (invFreq.length * 2 != rotaryDim) {
            throw new IllegalArgumentException("rotaryDim " + rotaryDim + " needs " + rotaryDim / 2 + " frequencies");
        }
        invFreq = invFreq.clone();
    }

    /** Unscaled frequencies: theta^(-2i/rotaryDim). */
    public static double[] defaultInvFreq(double theta, int rotaryDim) {
        double[] f = new double[rotaryDim / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = 1.0 / Math.pow(theta, (2.0 * i) / rotaryDim);
        }
        return f;
    }

    /**
     * Llama 3.1's frequency-dependent scaling: long wavelengths are divided by {@code factor},
     * short ones kept, and the band between blended smoothly.
     */
    public static double[] llama3InvFreq(double[] base, double factor, double lowFreqFactor, double highFreqFactor,
                                         double originalMaxPositions) {
        double lowFreqWavelen = originalMaxPositions / lowFreqFactor;
        double highFreqWavelen = originalMaxPositions / highFreqFactor;
        double[] f = new double[base.length];
        for (int i = 0; i < f.length; i++) {
            double wavelen = 2 * Math.PI / base[i];
            if (wavelen < highFreqWavelen) {
                f[i] = base[i];
            } else if (wavelen > lowFreqWavelen) {
                f[i] = base[i] / factor;
            } else {
                double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                f[i] = (1 - smooth) * base[i] / factor + smooth * base[i];
            }
        }
        return f;
    }

    /**
     * Fills cos/sin tables of {@code positions.length} rows by rotaryDim/2 columns, computed in
     * double and rounded to float, as transformers computes them in FP32 from FP32 frequencies.
     */
    public void tables(int[] positions, float[] cos, float[] sin) {
        int half = rotaryDim / 2;
        for (int r = 0; r < positions.length; r++) {
            for (int i = 0; i < half; i++) {
                // transformers multiplies float32 inv_freq by float32 positions; mirror that rounding.
                float angle = (float) positions[r] * (float) invFreq[i];
                cos[r * half + i] = (float) (Math.cos(angle) * attentionFactor);
                sin[r * half + i] = (float) (Math.sin(angle) * attentionFactor);
            }
        }
    }
}
