package dev.miij.tokenizer;

/**
 * One slice of the input on its way to the model: either ordinary text, or an added token that
 * was already recognised and must pass through untouched.
 *
 * @param text the (normalized) text of the slice
 * @param atStart whether the slice begins at offset 0 of the original input; Metaspace's
 *     "first" prepend scheme depends on it
 * @param addedId the id of the added token this slice is, or -1 for ordinary text
 */
record Piece(String text, boolean atStart, int addedId) {

    static Piece text(String text, boolean atStart) {
        return new Piece(text, atStart, -1);
    }

    boolean isAdded() {
        return addedId >= 0;
    }

    /** A sub-slice {@code [from, to)} of this ordinary piece. */
    Piece slice(int from, int to) {
        return new Piece(text.substring(from, to), atStart && from == 0, -1);
    }

    Piece withText(String newText) {
        return new Piece(newText, atStart, addedId);
    }
}
