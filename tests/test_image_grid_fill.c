/* Grid column counts that fill the grid: `vae sample -n 10` is 5x2 rather
 * than 4+4+2, `vae reconstruct -n 64` is 4 pairs of 16-image rows rather than
 * 12 columns with a ragged last pair. Checked against the values a user sees
 * and, for every n up to 400, against a brute-force search for a filling
 * near-square layout. */
#include <math.h>

#include "check.h"
#include "vae/image.h"

int main(void) {
    int plain[][2] = {{1, 1}, {2, 2}, {4, 2}, {6, 3}, {10, 5}, {12, 4}, {16, 4}, {32, 8}, {64, 8}, {100, 10},
                      {128, 16}, {7, 3}, {97, 10}};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        CHECK_MSG(image_grid_fill_cols(plain[i][0], 1) == plain[i][1], "image_grid_fill_cols(%d, 1) = %d, want %d",
                  plain[i][0], image_grid_fill_cols(plain[i][0], 1), plain[i][1]);
    int pairs[][2] = {{32, 8}, {64, 16}, {10, 5}, {8, 4}, {1, 1}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        CHECK_MSG(image_grid_fill_cols(pairs[i][0], 2) == pairs[i][1], "image_grid_fill_cols(%d, 2) = %d, want %d",
                  pairs[i][0], image_grid_fill_cols(pairs[i][0], 2), pairs[i][1]);

    int bad = 0;
    for (int k = 1; k <= 2; k++)
        for (int n = 1; n <= 400; n++) {
            int c = image_grid_fill_cols(n, k);
            int near = (int)ceil(sqrt((double)n * k) - 1e-9);
            /* is there any column count that fills the grid and is not too wide? */
            int fillable = 0;
            for (int d = 1; d <= n; d++)
                if (n % d == 0 && d * d >= n * k && d <= 2 * near) fillable = 1;
            if (c < 1 || c > n) bad++;
            else if (fillable && n % c != 0) bad++;      /* a ragged last row where a full one was possible */
            else if (n % c == 0 && c * c < n * k && n > 1) bad++;   /* taller than wide */
        }
    CHECK_MSG(bad == 0, "%d layouts leave a ragged row or are taller than wide", bad);
    return check_done("test_image_grid_fill");
}
