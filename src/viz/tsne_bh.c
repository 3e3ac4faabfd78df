/* Barnes-Hut t-SNE (van der Maaten 2014, "Accelerating t-SNE using
 * tree-based algorithms"): a vantage-point tree finds each point's
 * 3*perplexity nearest neighbours for the sparse input affinities, and a
 * quadtree over the 2-D map summarises groups of far points by their centre
 * of mass in the repulsive forces. Each point's forces are computed on their
 * own (split over threads) and summed in point order, so a seed gives the same
 * map whatever the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsne_internal.h"
#include "vae/rng.h"

/* ---- vantage-point tree (Yianilos 1993), for exact k-nearest neighbours ---- */

typedef struct {
    double d2;          /* squared distance (to the vantage point while building, to the query in a heap) */
    int idx;
} VpItem;

typedef struct {
    int point;
    int inside, outside;    /* children: points with distance <= radius / >= radius; -1 if none */
    double radius;          /* distance to the median point */
} VpNode;

typedef struct {
    const float *x;
    int n, d;
    VpNode *nodes;          /* (n): one node per point */
    int count;
    float *xs;              /* (n, d): node k's point, so a search reads memory in tree order */
} VpTree;

/* Squared distance in double. Four partial sums: in 20-D the tree prunes
   little (most of the time goes here), and one chain of dependent adds would
   be the bottleneck. */
static double dist2_of(const float *a, const float *b, int d) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int k = 0;
    for (; k + 3 < d; k += 4) {
        double t0 = (double)a[k] - (double)b[k], t1 = (double)a[k + 1] - (double)b[k + 1];
        double t2 = (double)a[k + 2] - (double)b[k + 2], t3 = (double)a[k + 3] - (double)b[k + 3];
        s0 += t0 * t0;
        s1 += t1 * t1;
        s2 += t2 * t2;
        s3 += t3 * t3;
    }
    for (; k < d; k++) {
        double t = (double)a[k] - (double)b[k];
        s0 += t * t;
    }
    return (s0 + s1) + (s2 + s3);
}

/* (distance, index) order: a total order, so ties are settled the same way a
 * sorted brute-force search settles them */
static int item_less(const VpItem *a, const VpItem *b) { return a->d2 < b->d2 || (a->d2 == b->d2 && a->idx < b->idx); }

static void item_swap(VpItem *a, VpItem *b) {
    VpItem t = *a;
    *a = *b;
    *b = t;
}

/* Rearranges a[lo, hi) so that a[nth] is the element of that rank, smaller
 * ones before it and larger after (Hoare quickselect, median-of-three pivot). */
static void select_nth(VpItem *a, int lo, int hi, int nth) {
    while (hi - lo > 2) {
        int mid = lo + (hi - lo) / 2;
        if (item_less(&a[mid], &a[lo])) item_swap(&a[mid], &a[lo]);
        if (item_less(&a[hi - 1], &a[lo])) item_swap(&a[hi - 1], &a[lo]);
        if (item_less(&a[hi - 1], &a[mid])) item_swap(&a[hi - 1], &a[mid]);
        VpItem pivot = a[mid];
        int i = lo, j = hi - 1;
        while (i <= j) {
            while (item_less(&a[i], &pivot)) i++;
            while (item_less(&pivot, &a[j])) j--;
            if (i <= j) item_swap(&a[i++], &a[j--]);
        }
        /* [lo, j] <= pivot <= [i, hi); anything between equals the pivot */
        if (nth <= j)
            hi = j + 1;
        else if (nth >= i)
            lo = i;
        else
            return;
    }
    if (hi - lo == 2 && item_less(&a[lo + 1], &a[lo])) item_swap(&a[lo], &a[lo + 1]);
}

/* Builds the subtree over items[lo, hi): a random vantage point, the others
 * split at their median distance to it. Returns the node, or -1 if empty. */
static int vp_build(VpTree *t, VpItem *items, int lo, int hi, Rng *r) {
    if (lo >= hi) return -1;
    int node = t->count++;
    item_swap(&items[lo], &items[lo + (int)rng_below(r, (uint32_t)(hi - lo))]);
    VpNode *v = &t->nodes[node];
    v->point = items[lo].idx;
    v->inside = v->outside = -1;
    v->radius = 0;
    if (hi - lo == 1) return node;
    const float *xv = t->x + (size_t)v->point * t->d;
    for (int k = lo + 1; k < hi; k++) items[k].d2 = dist2_of(xv, t->x + (size_t)items[k].idx * t->d, t->d);
    int median = lo + 1 + (hi - lo - 1) / 2;
    select_nth(items, lo + 1, hi, median);
    double radius = sqrt(items[median].d2);
    int inside = vp_build(t, items, lo + 1, median, r);
    int outside = vp_build(t, items, median, hi, r);
    v->radius = radius;
    v->inside = inside;
    v->outside = outside;
    return node;
}

/* a max-heap of the best `cap` candidates by (distance, index) */
typedef struct {
    VpItem *a;
    int size, cap;
    double tau;             /* distance of the worst kept candidate once full, else infinity */
} Heap;

static void heap_offer(Heap *h, double d2, int idx) {
    VpItem c = {d2, idx};
    int i;
    if (h->size < h->cap) {
        i = h->size++;
        while (i > 0 && item_less(&h->a[(i - 1) / 2], &c)) {
            h->a[i] = h->a[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h->a[i] = c;
        if (h->size == h->cap) h->tau = sqrt(h->a[0].d2);
        return;
    }
    if (!item_less(&c, &h->a[0])) return;
    i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        const VpItem *big = &c;
        if (l < h->size && item_less(big, &h->a[l])) m = l, big = &h->a[l];
        if (r < h->size && item_less(big, &h->a[r])) m = r;
        if (m == i) break;
        h->a[i] = h->a[m];
        i = m;
    }
    h->a[i] = c;
    h->tau = sqrt(h->a[0].d2);
}

static void vp_search(const VpTree *t, int node, const float *q, Heap *h) {
    if (node < 0) return;
    const VpNode *v = &t->nodes[node];
    double d2 = dist2_of(q, t->xs + (size_t)node * t->d, t->d);
    heap_offer(h, d2, v->point);
    if (v->inside < 0 && v->outside < 0) return;
    double d = sqrt(d2);
    /* triangle inequality: points inside are at least d - radius away, points
       outside at least radius - d; the slack covers rounding in the square
       roots, so a tie at the k-th distance is never pruned */
    double slack = 1e-9 * (d + v->radius);
    if (d < v->radius) {
        if (d - h->tau <= v->radius + slack) vp_search(t, v->inside, q, h);
        if (d + h->tau >= v->radius - slack) vp_search(t, v->outside, q, h);
    } else {
        if (d + h->tau >= v->radius - slack) vp_search(t, v->outside, q, h);
        if (d - h->tau <= v->radius + slack) vp_search(t, v->inside, q, h);
    }
}

typedef struct {
    const VpTree *t;
    int k;
    VpItem *scratch;    /* (threads, k + 1) */
    int *nbr;           /* (n, k) */
    double *dist2;      /* (n, k) */
} KnnCtx;

static int item_cmp(const void *a, const void *b) {
    const VpItem *x = a, *y = b;
    return item_less(x, y) ? -1 : item_less(y, x);
}

static void knn_rows(void *arg, int row0, int row1, int part) {
    KnnCtx *c = arg;
    int k = c->k;
    VpItem *a = c->scratch + (size_t)part * (k + 1);
    for (int i = row0; i < row1; i++) {
        Heap h = {a, 0, k + 1, INFINITY};
        vp_search(c->t, 0, c->t->x + (size_t)i * c->t->d, &h);
        qsort(a, (size_t)h.size, sizeof *a, item_cmp);
        /* the point itself (distance 0) is normally first; with duplicates it
           may sit anywhere, or be crowded out, in which case the last goes */
        int out = 0;
        for (int s = 0; s < h.size && out < k; s++) {
            if (a[s].idx == i) continue;
            c->nbr[(size_t)i * k + out] = a[s].idx;
            c->dist2[(size_t)i * k + out] = a[s].d2;
            out++;
        }
    }
}

int tsne_knn(const float *x, int n, int d, int k, int threads, int *nbr, double *dist2, VaeError *err) {
    if (n < 2 || d < 1 || k < 1 || k >= n)
        return vae_fail(err, "t-SNE: %d nearest neighbours of %d points of dimension %d is not possible", k, n, d);
    threads = tsne_clamp_threads(threads);
    VpTree t = {x, n, d, malloc((size_t)n * sizeof(VpNode)), 0, malloc((size_t)n * (size_t)d * sizeof(float))};
    VpItem *items = malloc((size_t)n * sizeof(VpItem));
    VpItem *scratch = malloc((size_t)threads * (size_t)(k + 1) * sizeof(VpItem));
    if (!t.nodes || !t.xs || !items || !scratch) {
        free(t.nodes);
        free(t.xs);
        free(items);
        free(scratch);
        return vae_fail(err, "t-SNE: out of memory for the neighbour search of %d points", n);
    }
    for (int i = 0; i < n; i++) items[i] = (VpItem){0, i};
    /* the vantage points only shape the tree, not the answer: a fixed seed */
    Rng r;
    rng_seed(&r, 0x7470747265650001ull);
    vp_build(&t, items, 0, n, &r);
    free(items);
    for (int k2 = 0; k2 < n; k2++) memcpy(t.xs + (size_t)k2 * d, x + (size_t)t.nodes[k2].point * d, (size_t)d * sizeof(float));
    KnnCtx c = {&t, k, scratch, nbr, dist2};
    tsne_run_rows(n, threads, knn_rows, &c);
    free(scratch);
    free(t.nodes);
    free(t.xs);
    return VAE_OK;
}

/* ---- sparse input affinities ---- */

typedef struct {
    const double *dist2;
    int k;
    double log_perp;
    double *p;          /* (n, k) p_{j|i} */
} SparseCalibCtx;

static void sparse_calibrate_rows(void *arg, int row0, int row1, int part) {
    SparseCalibCtx *c = arg;
    for (int i = row0; i < row1; i++)
        tsne_calibrate_row(c->dist2 + (size_t)i * c->k, c->k, c->log_perp, c->p + (size_t)i * c->k);
}

typedef struct {
    int col;
    double val;
} Entry;

static int entry_cmp(const void *a, const void *b) {
    int x = ((const Entry *)a)->col, y = ((const Entry *)b)->col;
    return (x > y) - (x < y);
}

void tsne_sparse_free(TsneSparse *p) {
    if (!p) return;
    free(p->row);
    free(p->col);
    free(p->val);
    memset(p, 0, sizeof *p);
}

int tsne_sparse_affinities(const float *x, int n, int d, double perplexity, int threads, TsneSparse *sp,
                           VaeError *err) {
    memset(sp, 0, sizeof *sp);
    if (tsne_check_input(x, n, d, perplexity, err) != VAE_OK) return VAE_ERR;
    int k = (int)(3.0 * perplexity); /* <= n - 1, checked above */
    if (k < 1) k = 1;
    size_t nk = (size_t)n * (size_t)k;
    int *nbr = malloc(nk * sizeof(int));
    double *dist2 = malloc(nk * sizeof(double)), *pc = malloc(nk * sizeof(double));
    size_t *cnt = calloc((size_t)n + 1, sizeof(size_t));
    size_t *kept = malloc((size_t)n * sizeof(size_t));
    Entry *e = malloc(2 * nk * sizeof(Entry));
    int rc = VAE_OK;
    if (!nbr || !dist2 || !pc || !cnt || !kept || !e) {
        rc = vae_fail(err, "t-SNE: out of memory for the affinities of %d points", n);
        goto done;
    }
    if ((rc = tsne_knn(x, n, d, k, threads, nbr, dist2, err)) != VAE_OK) goto done;
    SparseCalibCtx cc = {dist2, k, log(perplexity), pc};
    tsne_run_rows(n, tsne_clamp_threads(threads), sparse_calibrate_rows, &cc);

    /* every p_{j|i} goes to row i (column j) and to row j (column i); a pair
       found from both sides then has two entries in each row, which add up */
    for (size_t s = 0; s < nk; s++) cnt[nbr[s] + 1]++;
    for (int i = 0; i < n; i++) cnt[i + 1] += cnt[i] + (size_t)k;
    size_t *fill = malloc((size_t)n * sizeof(size_t));
    if (!fill) {
        rc = vae_fail(err, "t-SNE: out of memory for the affinities of %d points", n);
        goto done;
    }
    for (int i = 0; i < n; i++) fill[i] = cnt[i];
    for (int i = 0; i < n; i++)
        for (int s = 0; s < k; s++) {
            int j = nbr[(size_t)i * k + s];
            double v = pc[(size_t)i * k + s];
            e[fill[i]++] = (Entry){j, v};
            e[fill[j]++] = (Entry){i, v};
        }
    free(fill);
    /* sort each row by column and merge the pairs; kept[i] entries stay at
       the front of row i's slot e[cnt[i], cnt[i + 1]) */
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        Entry *row = e + cnt[i];
        size_t m = cnt[i + 1] - cnt[i], out = 0;
        qsort(row, m, sizeof *row, entry_cmp);
        for (size_t s = 0; s < m; s++) {
            /* a + b == b + a in floating point, so the order qsort leaves equal
               columns in does not matter, and p_ij == p_ji exactly */
            if (out > 0 && row[out - 1].col == row[s].col)
                row[out - 1].val += row[s].val;
            else
                row[out++] = row[s];
        }
        kept[i] = out;
        total += out;
    }
    sp->n = n;
    sp->row = malloc(((size_t)n + 1) * sizeof(size_t));
    sp->col = malloc(total * sizeof(int));
    sp->val = malloc(total * sizeof(double));
    if (!sp->row || !sp->col || !sp->val) {
        tsne_sparse_free(sp);
        rc = vae_fail(err, "t-SNE: out of memory for the affinities of %d points", n);
        goto done;
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        sp->row[i] = at;
        for (size_t s = 0; s < kept[i]; s++, at++) {
            sp->col[at] = e[cnt[i] + s].col;
            sp->val[at] = e[cnt[i] + s].val / (2.0 * n);
        }
    }
    sp->row[n] = at;
done:
    free(nbr);
    free(dist2);
    free(pc);
    free(cnt);
    free(kept);
    free(e);
    return rc;
}

/* ---- quadtree over the map, for the repulsive forces ---- */

/* Deeper than this, points are kept in one leaf rather than split further:
   only points closer than 2^-48 of the map's extent get there. */
#define QT_MAX_DEPTH 48

typedef struct {
    double cx, cy, hw;      /* square cell: centre and half side */
    double mx, my;          /* sum of the positions below; the centre of mass once built */
    int count;              /* points below */
    int child;              /* first of four children (quadrant = (x >= cx) + 2 (y >= cy)); -1 for a leaf */
    int head;               /* leaf: first point of its chain through next[]; -1 if empty */
    int lo, hi;             /* the points below are order[lo, hi) */
} QNode;

/* The repulsion is computed for a group of nearby points at a time (Barnes
   1990): one walk of the tree, with the opening test taken against the
   group's bounding box, lists the bodies (cells as their centre of mass, or
   single points) that every point of the group then sums over in a tight loop.
   The test is stricter than a per-point one, so it is at least as accurate. */
#define GROUP_MAX 32

typedef struct {
    double *x, *y, *m;      /* (cap) body positions and masses (points below a cell) */
    int cap;
} Bodies;

struct TsneBh {
    int n;
    QNode *nodes;
    int cap, used;
    int *next;              /* (n) chain of the points in one leaf */
    int *order;             /* (n) points in tree order: each node's points are contiguous */
    int *pos;               /* (n) position of each point in order */
    double *pts;            /* (n, 2) positions in tree order, for the leaves' loops */
    int *groups;            /* (n_groups, 2): [lo, hi) of the largest nodes with at most GROUP_MAX points */
    int n_groups;
    Bodies bodies[TSNE_MAX_THREADS];    /* each thread's interaction list */
};

int tsne_bh_init(TsneBh **out, int n, VaeError *err) {
    TsneBh *bh = calloc(1, sizeof *bh);
    if (!bh) return vae_fail(err, "t-SNE: out of memory for the quadtree of %d points", n);
    bh->n = n;
    bh->cap = 4 * n + 8;
    bh->nodes = malloc((size_t)bh->cap * sizeof(QNode));
    bh->next = malloc((size_t)n * sizeof(int));
    bh->order = malloc((size_t)n * sizeof(int));
    bh->pos = malloc((size_t)n * sizeof(int));
    bh->pts = malloc((size_t)n * 2 * sizeof(double));
    bh->groups = malloc((size_t)n * 2 * sizeof(int));
    if (!bh->nodes || !bh->next || !bh->order || !bh->pos || !bh->pts || !bh->groups) {
        tsne_bh_free(bh);
        return vae_fail(err, "t-SNE: out of memory for the quadtree of %d points", n);
    }
    *out = bh;
    return VAE_OK;
}

void tsne_bh_free(TsneBh *bh) {
    if (!bh) return;
    free(bh->nodes);
    free(bh->next);
    free(bh->order);
    free(bh->pos);
    free(bh->pts);
    free(bh->groups);
    for (int t = 0; t < TSNE_MAX_THREADS; t++) {
        free(bh->bodies[t].x);
        free(bh->bodies[t].y);
        free(bh->bodies[t].m);
    }
    free(bh);
}

static void qnode_init(QNode *q, double cx, double cy, double hw) {
    q->cx = cx;
    q->cy = cy;
    q->hw = hw;
    q->mx = q->my = 0;
    q->count = 0;
    q->child = -1;
    q->head = -1;
    q->lo = q->hi = 0;
}

static int quadrant(const QNode *q, double x, double y) { return (x >= q->cx) + 2 * (y >= q->cy); }

/* Inserts point p at (px, py). 0, or -1 when out of memory. */
static int qt_insert(TsneBh *bh, const double *y, int p) {
    double px = y[2 * p], py = y[2 * p + 1];
    int node = 0;
    for (int depth = 0;; depth++) {
        QNode *q = &bh->nodes[node];
        q->count++;
        q->mx += px;
        q->my += py;
        if (q->child >= 0) {
            node = q->child + quadrant(q, px, py);
            continue;
        }
        int h = q->head;
        /* an empty leaf, a copy of the leaf's point(s), or too deep: chain it */
        if (h < 0 || (y[2 * h] == px && y[2 * h + 1] == py) || depth >= QT_MAX_DEPTH) {
            bh->next[p] = h;
            q->head = p;
            return 0;
        }
        /* split: the leaf's points (all at one place) move to their quadrant */
        if (bh->used + 4 > bh->cap) {
            int cap = bh->cap * 2;
            QNode *nn = realloc(bh->nodes, (size_t)cap * sizeof(QNode));
            if (!nn) return -1;
            bh->nodes = nn;
            bh->cap = cap;
            q = &bh->nodes[node];
        }
        int c = bh->used;
        bh->used += 4;
        double hw = q->hw / 2;
        for (int k = 0; k < 4; k++)
            qnode_init(&bh->nodes[c + k], q->cx + (k & 1 ? hw : -hw), q->cy + (k & 2 ? hw : -hw), hw);
        q->child = c;
        q->head = -1;
        QNode *moved = &bh->nodes[c + quadrant(q, y[2 * h], y[2 * h + 1])];
        moved->head = h;
        for (int j = h; j >= 0; j = bh->next[j]) {
            moved->count++;
            moved->mx += y[2 * j];
            moved->my += y[2 * j + 1];
        }
        node = c + quadrant(q, px, py);
    }
}

/* Builds the tree over y, then numbers the points depth-first so every node's
 * points are order[lo, hi) and turns the sums into centres of mass. */
static int qt_build(TsneBh *bh, const double *y) {
    int n = bh->n;
    double x0 = y[0], x1 = y[0], y0 = y[1], y1 = y[1];
    for (int i = 1; i < n; i++) {
        x0 = fmin(x0, y[2 * i]);
        x1 = fmax(x1, y[2 * i]);
        y0 = fmin(y0, y[2 * i + 1]);
        y1 = fmax(y1, y[2 * i + 1]);
    }
    double hw = 0.5 * fmax(x1 - x0, y1 - y0);
    hw = hw * (1 + 1e-9) + 1e-300;
    bh->used = 1;
    qnode_init(&bh->nodes[0], 0.5 * (x0 + x1), 0.5 * (y0 + y1), hw);
    for (int i = 0; i < n; i++)
        if (qt_insert(bh, y, i) != 0) return -1;
    /* depth-first numbering with an explicit stack; a node is pushed once, so
       the stack never holds more than 3 per level plus one */
    int stack[4 * QT_MAX_DEPTH + 8], sp = 0, at = 0;
    stack[sp++] = 0;
    /* lo is set on the way down; hi = lo + count, known without a second pass */
    bh->nodes[0].lo = 0;
    while (sp > 0) {
        QNode *q = &bh->nodes[stack[--sp]];
        q->hi = q->lo + q->count;
        if (q->count > 0) {
            q->mx /= q->count;
            q->my /= q->count;
        }
        if (q->child < 0) {
            for (int j = q->head; j >= 0; j = bh->next[j]) {
                bh->order[at] = j;
                bh->pos[j] = at;
                bh->pts[2 * at] = y[2 * j];
                bh->pts[2 * at + 1] = y[2 * j + 1];
                at++;
            }
            continue;
        }
        /* children in quadrant order: 0 gets the first positions, so push them reversed */
        int lo = q->lo;
        for (int k = 0; k < 4; k++) {
            bh->nodes[q->child + k].lo = lo;
            lo += bh->nodes[q->child + k].count;
        }
        for (int k = 3; k >= 0; k--)
            if (bh->nodes[q->child + k].count > 0) stack[sp++] = q->child + k;
    }
    /* the groups: largest nodes with at most GROUP_MAX points (or leaves) */
    bh->n_groups = 0;
    stack[sp++] = 0;
    while (sp > 0) {
        const QNode *q = &bh->nodes[stack[--sp]];
        if (q->count <= GROUP_MAX || q->child < 0) {
            bh->groups[2 * bh->n_groups] = q->lo;
            bh->groups[2 * bh->n_groups + 1] = q->hi;
            bh->n_groups++;
            continue;
        }
        for (int k = 3; k >= 0; k--)
            if (bh->nodes[q->child + k].count > 0) stack[sp++] = q->child + k;
    }
    return 0;
}

typedef struct {
    const TsneSparse *p;
    const double *y;
    double *attr;
} AttrCtx;

/* attraction of point i: sum over its row of P of p_ij num_ij (y_i - y_j) */
static void attr_rows(void *arg, int row0, int row1, int part) {
    AttrCtx *c = arg;
    for (int i = row0; i < row1; i++) {
        double yi0 = c->y[2 * i], yi1 = c->y[2 * i + 1], a0 = 0, a1 = 0;
        for (size_t e = c->p->row[i]; e < c->p->row[i + 1]; e++) {
            int j = c->p->col[e];
            double d0 = yi0 - c->y[2 * j], d1 = yi1 - c->y[2 * j + 1];
            double pn = c->p->val[e] / (1.0 + d0 * d0 + d1 * d1);
            a0 += pn * d0;
            a1 += pn * d1;
        }
        c->attr[2 * i] = a0;
        c->attr[2 * i + 1] = a1;
    }
}

typedef struct {
    TsneBh *bh;
    double theta2;
    double *rep, *zrow;
    int failed[TSNE_MAX_THREADS];
} RepCtx;

static int bodies_push(Bodies *b, int *nb, double x, double y, double m) {
    if (*nb == b->cap) {
        int cap = b->cap ? 2 * b->cap : 1024;
        double *nx = realloc(b->x, (size_t)cap * sizeof(double));
        if (nx) b->x = nx;
        double *ny = nx ? realloc(b->y, (size_t)cap * sizeof(double)) : NULL;
        if (ny) b->y = ny;
        double *nm = ny ? realloc(b->m, (size_t)cap * sizeof(double)) : NULL;
        if (!nm) return -1;
        b->m = nm;
        b->cap = cap;
    }
    b->x[*nb] = x;
    b->y[*nb] = y;
    b->m[*nb] = m;
    (*nb)++;
    return 0;
}

/* Groups g0..g1: list the bodies for the group's bounding box, then sum each
 * point's repulsion over them. A cell of side w = 2 hw whose centre of mass is
 * at distance r from the box counts as one body when w / r < theta; a leaf's
 * points are bodies of their own, the group's point itself among them (its
 * num_ii = 1 is taken off Z afterwards, and its force is 0). */
static void rep_groups(void *arg, int g0, int g1, int part) {
    RepCtx *c = arg;
    const TsneBh *bh = c->bh;
    const QNode *nodes = bh->nodes;
    Bodies *bb = &c->bh->bodies[part];
    for (int g = g0; g < g1; g++) {
        int lo = bh->groups[2 * g], hi = bh->groups[2 * g + 1];
        double bx0 = INFINITY, bx1 = -INFINITY, by0 = INFINITY, by1 = -INFINITY;
        for (int s = lo; s < hi; s++) {
            bx0 = fmin(bx0, bh->pts[2 * s]);
            bx1 = fmax(bx1, bh->pts[2 * s]);
            by0 = fmin(by0, bh->pts[2 * s + 1]);
            by1 = fmax(by1, bh->pts[2 * s + 1]);
        }
        int nb = 0;
        int stack[4 * QT_MAX_DEPTH + 8], sp = 0;
        stack[sp++] = 0;
        while (sp > 0) {
            const QNode *q = &nodes[stack[--sp]];
            if (q->child < 0) {
                for (int s = q->lo; s < q->hi; s++)
                    if (bodies_push(bb, &nb, bh->pts[2 * s], bh->pts[2 * s + 1], 1.0) != 0) goto oom;
                continue;
            }
            /* squared distance from the centre of mass to the box (0 inside) */
            double dx = q->mx < bx0 ? bx0 - q->mx : q->mx > bx1 ? q->mx - bx1 : 0;
            double dy = q->my < by0 ? by0 - q->my : q->my > by1 ? q->my - by1 : 0;
            if (4.0 * q->hw * q->hw < c->theta2 * (dx * dx + dy * dy)) {
                if (bodies_push(bb, &nb, q->mx, q->my, (double)q->count) != 0) goto oom;
                continue;
            }
            for (int k = 3; k >= 0; k--)
                if (nodes[q->child + k].count > 0) stack[sp++] = q->child + k;
        }
        const double *bxs = bb->x, *bys = bb->y, *bms = bb->m;
        for (int s = lo; s < hi; s++) {
            double xi = bh->pts[2 * s], yi = bh->pts[2 * s + 1];
            /* two independent accumulators: the compiler may not reorder a
               floating-point sum itself, and one chain of adds is the bottleneck */
            double z0 = 0, z1 = 0, rx0 = 0, rx1 = 0, ry0 = 0, ry1 = 0;
            int b = 0;
            for (; b + 1 < nb; b += 2) {
                double dx0 = xi - bxs[b], dy0 = yi - bys[b], dx1 = xi - bxs[b + 1], dy1 = yi - bys[b + 1];
                double q0 = 1.0 / (1.0 + dx0 * dx0 + dy0 * dy0), q1 = 1.0 / (1.0 + dx1 * dx1 + dy1 * dy1);
                double w0 = bms[b] * q0, w1 = bms[b + 1] * q1;
                z0 += w0;
                z1 += w1;
                w0 *= q0;
                w1 *= q1;
                rx0 += w0 * dx0;
                rx1 += w1 * dx1;
                ry0 += w0 * dy0;
                ry1 += w1 * dy1;
            }
            if (b < nb) {
                double dx0 = xi - bxs[b], dy0 = yi - bys[b];
                double q0 = 1.0 / (1.0 + dx0 * dx0 + dy0 * dy0), w0 = bms[b] * q0;
                z0 += w0;
                w0 *= q0;
                rx0 += w0 * dx0;
                ry0 += w0 * dy0;
            }
            int i = bh->order[s];
            c->rep[2 * i] = rx0 + rx1;
            c->rep[2 * i + 1] = ry0 + ry1;
            c->zrow[i] = (z0 + z1) - 1.0;
        }
        continue;
    oom:
        c->failed[part] = 1;
        return;
    }
}

double tsne_bh_terms(TsneBh *bh, const TsneSparse *p, const double *y, double theta, int threads, double *attr,
                     double *rep, double *zrow) {
    if (qt_build(bh, y) != 0) return -1;
    AttrCtx ac = {p, y, attr};
    tsne_run_rows(bh->n, threads, attr_rows, &ac);
    RepCtx rc;
    memset(&rc, 0, sizeof rc);
    rc.bh = bh;
    rc.theta2 = theta * theta;
    rc.rep = rep;
    rc.zrow = zrow;
    tsne_run_rows(bh->n_groups, threads, rep_groups, &rc);
    for (int t = 0; t < TSNE_MAX_THREADS; t++)
        if (rc.failed[t]) return -1;
    double z = 0;
    for (int i = 0; i < bh->n; i++) z += zrow[i];
    return z;
}

double tsne_bh_kl(const TsneSparse *p, const double *y, double z) {
    double kl = 0, log_z = log(z);
    for (int i = 0; i < p->n; i++)
        for (size_t e = p->row[i]; e < p->row[i + 1]; e++) {
            double v = p->val[e];
            if (v <= 0) continue;
            int j = p->col[e];
            double d0 = y[2 * i] - y[2 * j], d1 = y[2 * i + 1] - y[2 * j + 1];
            double log_q = -log1p(d0 * d0 + d1 * d1) - log_z;
            kl += v * (log(v) - log_q);
        }
    return kl;
}
