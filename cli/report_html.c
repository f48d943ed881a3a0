#include "report_html.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { HEAT_LABELS = 20, LEVEL_LABELS = 15, MAX_LEVELS = 3, BINS = 10 };

/* ---- small writers ------------------------------------------------------------------ */

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void base64(FILE *f, const unsigned char *p, size_t n)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        fputc(abc[v >> 18 & 63], f);
        fputc(abc[v >> 12 & 63], f);
        fputc(i + 1 < n ? abc[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? abc[v & 63] : '=', f);
    }
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static const char *label_or_unknown(const report_page *p, int id)
{
    return id >= 0 ? shelf_model_label(p->m, id) : "(a label the model never saw)";
}

/* ---- the page's frame -------------------------------------------------------------- */

static const char *const STYLE =
    "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
    "h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;"
    "text-align:left}th.sort{cursor:pointer;text-decoration:underline dotted}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}svg{font:11px sans-serif}"
    ".note{color:#666}.tok{padding:0 2px;border-radius:3px}img.thumb{max-height:80px}"
    ".scroll{max-height:420px;overflow:auto;display:inline-block}";

/* Clicking a column's head sorts the table by it (numbers as numbers). */
static const char *const SCRIPT =
    "document.querySelectorAll('table.sortable th').forEach(function(th,i){"
    "th.className='sort';th.onclick=function(){var t=th.closest('table'),b=t.tBodies[0],"
    "r=Array.prototype.slice.call(b.rows),d=th.dataset.d==='1'?-1:1;th.dataset.d=d===1?'1':'0';"
    "r.sort(function(x,y){var a=x.cells[i].textContent,c=y.cells[i].textContent,"
    "p=parseFloat(a),q=parseFloat(c);return(isNaN(p)||isNaN(q)?a.localeCompare(c):p-q)*d;});"
    "r.forEach(function(e){b.appendChild(e);});};});";

/* ---- summary and classes ------------------------------------------------------------ */

static void summary(FILE *f, const report_page *p, const cJSON *mt)
{
    fprintf(f, "<section id='summary'><h2>Summary</h2><table>");
    static const char *const rows[][2] = {
        {"n", "products"}, {"accuracy", "accuracy"}, {"top5_accuracy", "top-5 accuracy"},
        {"macro_f1", "macro F1"}, {"micro_f1", "micro F1"}, {"weighted_f1", "weighted F1"}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        fprintf(f, i ? "<tr><th>%s</th><td class='n'>%.4f</td></tr>"
                     : "<tr><th>%s</th><td class='n'>%.0f</td></tr>",
                rows[i][1], num(mt, rows[i][0]));
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(mt, "hierarchical_f1");
    fprintf(f, "<tr><th>hierarchical F1</th><td class='n'>%.4f</td></tr>", num(h, "f1"));
    const cJSON *lv;
    cJSON_ArrayForEach(lv, cJSON_GetObjectItemCaseSensitive(mt, "levels"))
        fprintf(f, "<tr><th>level %d: accuracy, macro F1</th><td class='n'>%.4f, %.4f</td></tr>",
                (int)num(lv, "level"), num(lv, "accuracy"), num(lv, "macro_f1"));
    fprintf(f, "</table>");
    if (p->skipped)
        fprintf(f, "<p class='note'>%ld products were left out for a bad image.</p>",
                p->skipped);
    fprintf(f, "</section>");
}

static void classes(FILE *f, const cJSON *mt)
{
    fprintf(f, "<section id='classes'><h2>Per class</h2><p class='note'>Click a column's head "
               "to sort.</p><div class='scroll'><table class='sortable'><thead><tr><th>label</th><th>support</th>"
               "<th>predicted</th><th>precision</th><th>recall</th><th>F1</th></tr></thead>"
               "<tbody>");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(mt, "classes"))
    {
        fputs("<tr><td>", f);
        esc(f, str(c, "label"));
        fprintf(f, "</td><td class='n'>%.0f</td><td class='n'>%.0f</td><td class='n'>%.4f</td>"
                   "<td class='n'>%.4f</td><td class='n'>%.4f</td></tr>",
                num(c, "support"), num(c, "predicted"), num(c, "precision"), num(c, "recall"),
                num(c, "f1"));
    }
    fprintf(f, "</tbody></table></div></section>");
}

/* ---- confusion heat maps ------------------------------------------------------------ */

/* The level-`level` prefix of a label path (the whole path when it is shallower): a pointer
 * into out. */
static const char *prefix(const char *label, const char *sep, int level, char *out, size_t n)
{
    const char *end = label;
    size_t seplen = strlen(sep);
    for (int l = 0; l < level && end; l++) {
        const char *next = seplen ? strstr(end, sep) : NULL;
        if (l == level - 1 || !next) {
            end = next;
            break;
        }
        end = next + seplen;
    }
    size_t len = end ? (size_t)(end - label) : strlen(label);
    len = len < n - 1 ? len : n - 1;
    memcpy(out, label, len);
    out[len] = '\0';
    return out;
}

typedef struct named_count {
    char *name;
    long count;
} named_count;

static int by_count(const void *a, const void *b)
{
    const named_count *x = a, *y = b;
    return x->count != y->count ? (x->count < y->count ? 1 : -1) : strcmp(x->name, y->name);
}

static long find_name(named_count *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, s))
            return (long)i;
    return -1;
}

/* One heat map of truth (rows) against prediction (columns) over the names most involved in
 * mistakes, at `level` (0: whole paths). 0, or -1 out of memory. */
static int heat_map(FILE *f, const report_page *p, int level, int most, const char *title)
{
    const char *sep = shelf_model_read_options(p->m)->label_sep;
    sep = sep && *sep ? sep : " > ";
    named_count *names = calloc(2 * p->n + 1, sizeof *names);
    size_t nn = 0;
    int rc = -1;
    char a[1024], b[1024];
    if (!names)
        return -1;
    for (size_t i = 0; i < p->n; i++) { /* each name's mistakes, as truth or prediction */
        const char *t = label_or_unknown(p, p->truth[i]);
        const char *q = shelf_model_label(p->m, p->ranked[i * (size_t)p->kq]);
        const char *tp = level ? prefix(t, sep, level, a, sizeof a) : t;
        const char *qp = level ? prefix(q, sep, level, b, sizeof b) : q;
        int wrong = strcmp(tp, qp) != 0;
        const char *both[2] = {tp, qp};
        for (int s = 0; s < 2; s++) {
            long at = find_name(names, nn, both[s]);
            if (at < 0) {
                if (!(names[nn].name = strdup(both[s])))
                    goto done;
                at = (long)nn++;
            }
            names[at].count += wrong;
        }
    }
    qsort(names, nn, sizeof *names, by_count);
    int k = (int)nn < most ? (int)nn : most;
    while (k > 0 && names[k - 1].count == 0)
        k--;
    fprintf(f, "<h3>%s</h3>", title);
    if (k < 2) {
        fprintf(f, "<p class='note'>No mistakes to show.</p>");
        rc = 0;
        goto done;
    }
    long *cell = calloc((size_t)k * (size_t)k, sizeof *cell), top = 1;
    if (!cell)
        goto done;
    for (size_t i = 0; i < p->n; i++) {
        const char *t = label_or_unknown(p, p->truth[i]);
        const char *q = shelf_model_label(p->m, p->ranked[i * (size_t)p->kq]);
        long r = find_name(names, (size_t)k, level ? prefix(t, sep, level, a, sizeof a) : t);
        long c = find_name(names, (size_t)k, level ? prefix(q, sep, level, b, sizeof b) : q);
        if (r >= 0 && c >= 0 && r != c && ++cell[r * k + c] > top)
            top = cell[r * k + c];
    }
    const int C = 18, L = 260, T = 190; /* cell size, room for the row and column names */
    fprintf(f, "<svg class='heat' width='%d' height='%d' role='img'>", L + k * C + 170,
            T + k * C + 10);
    for (int i = 0; i < k; i++) {
        fprintf(f, "<text x='%d' y='%d' text-anchor='end'>", L - 4, T + i * C + 13);
        esc(f, names[i].name);
        fprintf(f, "</text><text transform='translate(%d,%d) rotate(-60)'>", L + i * C + 12,
                T - 4);
        esc(f, names[i].name);
        fputs("</text>", f);
        for (int j = 0; j < k; j++) {
            long v = cell[i * k + j];
            double shade = i == j ? 0 : (double)v / (double)top;
            fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='rgb(%d,%d,%d)' "
                       "stroke='#eee'><title>",
                    L + j * C, T + i * C, C, C, 255, (int)(255 - 200 * shade),
                    (int)(255 - 230 * shade));
            esc(f, names[i].name);
            fputs(" taken for ", f);
            esc(f, names[j].name);
            fprintf(f, ": %ld</title></rect>", i == j ? 0 : v);
        }
    }
    fputs("</svg>", f);
    free(cell);
    rc = 0;
done:
    for (size_t i = 0; i < nn; i++)
        free(names[i].name);
    free(names);
    return rc;
}

static int confusions(FILE *f, const report_page *p)
{
    fprintf(f, "<section id='confusions'><h2>Confusions</h2><p class='note'>Rows: the true "
               "label; columns: the one predicted; darker: more often. The labels most "
               "involved in mistakes.</p>");
    if (heat_map(f, p, 0, HEAT_LABELS, "Labels"))
        return -1;
    int depth = 1;
    const char *sep = shelf_model_read_options(p->m)->label_sep;
    sep = sep && *sep ? sep : " > ";
    for (int c = 0; c < shelf_model_num_labels(p->m); c++) { /* the deepest path's levels */
        int d = 1;
        for (const char *s = shelf_model_label(p->m, c); (s = strstr(s, sep)); s += strlen(sep))
            d++;
        depth = d > depth ? d : depth;
    }
    for (int level = 1; level < depth && level <= MAX_LEVELS; level++) {
        char title[64];
        snprintf(title, sizeof title, "Level %d", level);
        if (heat_map(f, p, level, LEVEL_LABELS, title))
            return -1;
    }
    fputs("</section>", f);
    return 0;
}

/* ---- calibration, back-off, training ------------------------------------------------ */

/* Axes from 0 to 1 across, ylo to yhi up, with five ticks each. */
static void axes(FILE *f, int W, int H, int M, const char *x, const char *y, double ylo,
                 double yhi)
{
    fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#444'/>"
               "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#444'/>"
               "<text x='%d' y='%d' text-anchor='middle'>%s</text>"
               "<text transform='translate(12,%d) rotate(-90)' text-anchor='middle'>%s</text>",
            M, H - M, W - M, H - M, M, M, M, H - M, W / 2, H - 6, x, H / 2, y);
    for (int t = 0; t <= 4; t++) {
        double v = t / 4.0;
        fprintf(f, "<text x='%d' y='%d' text-anchor='middle'>%.2f</text>"
                   "<text x='%d' y='%d' text-anchor='end'>%.2f</text>",
                M + (int)(v * (W - 2 * M)), H - M + 14, v, M - 4,
                H - M - (int)(v * (H - 2 * M)) + 4, ylo + v * (yhi - ylo));
    }
}

static void calibration(FILE *f, const report_page *p)
{
    long count[BINS] = {0}, right[BINS] = {0};
    double conf[BINS] = {0};
    for (size_t i = 0; i < p->n; i++) {
        float q = p->probs[i * (size_t)p->kq];
        int b = (int)(q * BINS);
        b = b < 0 ? 0 : b >= BINS ? BINS - 1 : b;
        count[b]++;
        conf[b] += q;
        right[b] += p->ranked[i * (size_t)p->kq] == p->truth[i];
    }
    const int W = 420, H = 360, M = 44;
    fprintf(f, "<section id='calibration'><h2>Calibration</h2><p class='note'>Products binned "
               "by the top label's probability: the share right in each bin against the bin's "
               "mean probability (on the diagonal: honest probabilities).</p>"
               "<svg class='reliability' width='%d' height='%d' role='img'>", W, H);
    axes(f, W, H, M, "probability given", "share right", 0, 1);
    fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#aaa' stroke-dasharray='4'/>", M,
            H - M, W - M, M);
    for (int b = 0; b < BINS; b++) {
        if (!count[b])
            continue;
        double acc = (double)right[b] / count[b], bw = (W - 2.0 * M) / BINS;
        fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='#4a7ab5' "
                   "opacity='0.8'><title>%.1f-%.1f: %ld products, %.4f right, mean "
                   "probability %.4f</title></rect>",
                M + b * bw + 1, H - M - acc * (H - 2 * M), bw - 2, acc * (H - 2 * M),
                (double)b / BINS, (double)(b + 1) / BINS, count[b], acc, conf[b] / count[b]);
    }
    fputs("</svg></section>", f);
}

static int backoff_curve(FILE *f, const report_page *p)
{
    enum { STEPS = 60 };
    double cov[STEPS], prec[STEPS];
    float thr[STEPS];
    int mark = -1; /* the lowest threshold, scanning down, before 99% precision is lost */
    const char **truths = malloc((p->n + 1) * sizeof *truths);
    if (!truths)
        return -1;
    for (size_t i = 0; i < p->n; i++)
        truths[i] = label_or_unknown(p, p->truth[i]);
    for (int s = 0; s < STEPS; s++) {
        thr[s] = 0.999f - (float)s * (0.999f - 0.05f) / (STEPS - 1);
        shelf_backoff_measure(p->m, p->ranked, p->probs, p->kq, NULL, truths, p->n, thr[s],
                              &cov[s], &prec[s]);
        if (mark == s - 1 && prec[s] >= 0.99 - 1e-6)
            mark = s;
    }
    free(truths);
    double lo = 1;
    for (int s = 0; s < STEPS; s++)
        lo = prec[s] < lo ? prec[s] : lo;
    lo = floor(lo * 20) / 20; /* the precision axis from a round value below the lowest */
    lo = lo > 0.95 ? 0.95 : lo;
    const int W = 520, H = 360, M = 44;
    fprintf(f, "<section id='backoff'><h2>Back-off: coverage and precision</h2><p "
               "class='note'>Each point a --min-confidence from 0.999 down to 0.05: the share "
               "of products given a path (coverage) and the share of those paths that are "
               "right (precision, from %.2f up).", lo);
    if (mark >= 0)
        fprintf(f, " Marked: %.3f, the lowest threshold keeping 99%% precision (coverage "
                   "%.4f, precision %.4f).", (double)thr[mark], cov[mark], prec[mark]);
    else
        fputs(" No threshold here reaches 99% precision.", f);
    fprintf(f, "</p><svg class='backoff' width='%d' height='%d' role='img'>", W, H);
    axes(f, W, H, M, "coverage", "precision", lo, 1);
    fputs("<polyline fill='none' stroke='#c0392b' stroke-width='2' points='", f);
    for (int s = 0; s < STEPS; s++)
        fprintf(f, "%.1f,%.1f ", M + cov[s] * (W - 2 * M),
                H - M - (prec[s] - lo) / (1 - lo + 1e-9) * (H - 2 * M));
    fputs("'/>", f);
    if (mark >= 0)
        fprintf(f, "<circle cx='%.1f' cy='%.1f' r='5' fill='#27ae60'><title>--min-confidence "
                   "%.3f</title></circle>",
                M + cov[mark] * (W - 2 * M),
                H - M - (prec[mark] - lo) / (1 - lo + 1e-9) * (H - 2 * M), (double)thr[mark]);
    fputs("</svg></section>", f);
    return 0;
}

static int training(FILE *f, const report_page *p)
{
    float none;
    int n = shelf_model_curve(p->m, &none, &none, 0);
    fprintf(f, "<section id='training'><h2>Training</h2>");
    if (n <= 0) {
        fputs("<p class='note'>This model file keeps no training curve (trained before shelf "
              "kept one).</p></section>", f);
        return 0;
    }
    float *loss = malloc((size_t)n * sizeof *loss), *acc = malloc((size_t)n * sizeof *acc);
    if (!loss || !acc) {
        free(loss);
        free(acc);
        return -1;
    }
    shelf_model_curve(p->m, loss, acc, n);
    float top = 0;
    for (int e = 0; e < n; e++)
        top = loss[e] > top ? loss[e] : top;
    top = top > 0 ? top : 1;
    const int W = 520, H = 320, M = 44;
    fprintf(f, "<p class='note'>Per epoch: the mean training loss (red, scaled to its largest, "
               "%.4f) and the validation accuracy (blue) when there was a validation set.</p>"
               "<svg class='curve' width='%d' height='%d' role='img'>", (double)top, W, H);
    axes(f, W, H, M, "epochs, first to last", "loss (scaled) / accuracy", 0, 1);
    for (int which = 0; which < 2; which++) {
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='",
                which ? "#2c6fbb" : "#c0392b");
        for (int e = 0; e < n; e++) {
            double v = which ? acc[e] : loss[e] / top;
            if (v < 0)
                continue;
            fprintf(f, "%.1f,%.1f ", M + (n > 1 ? (double)e / (n - 1) : 0.5) * (W - 2 * M),
                    H - M - v * (H - 2 * M));
        }
        fputs("'/>", f);
    }
    fputs("</svg></section>", f);
    free(loss);
    free(acc);
    return 0;
}

/* ---- mistakes and hygiene ------------------------------------------------------------ */

/* The product's text as its explanation's tokens, in order, each shaded by its weight:
 * green for the label given, red against it. */
static void highlighted(FILE *f, const char *why)
{
    cJSON *doc = why ? cJSON_Parse(why) : NULL;
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(doc, "text"), "tokens");
    int n = cJSON_GetArraySize(tokens);
    if (!doc || n <= 0) {
        cJSON_Delete(doc);
        return;
    }
    double top = 1e-9;
    const cJSON *t;
    cJSON_ArrayForEach(t, tokens) top = fabs(num(t, "weight")) > top ? fabs(num(t, "weight")) : top;
    for (int pos = 0; pos < n; pos++) { /* tokens come best first: find each position */
        cJSON_ArrayForEach(t, tokens)
        {
            if ((int)num(t, "position") != pos)
                continue;
            double w = num(t, "weight") / top;
            fprintf(f, "<span class='tok' style='background:rgba(%s,%.2f)' title='%.4f'>",
                    w >= 0 ? "46,160,67" : "200,40,40", fabs(w) * 0.6, num(t, "weight"));
            esc(f, str(t, "token"));
            fputs("</span> ", f);
        }
    }
    cJSON_Delete(doc);
}

static void mistakes(FILE *f, const report_page *p)
{
    fprintf(f, "<section id='mistakes'><h2>The most confident mistakes</h2>");
    if (!p->nmistakes) {
        fputs("<p class='note'>None.</p></section>", f);
        return;
    }
    fputs("<p class='note'>Words shaded by how much they pushed towards the label given "
          "(green) or away from it (red), from the explanation.</p><table><thead><tr>"
          "<th>photo</th><th>id</th><th>text</th><th>true</th><th>given</th><th>probability</th>"
          "</tr></thead><tbody>", f);
    for (size_t k = 0; k < p->nmistakes; k++) {
        size_t i = p->mistake[k];
        const shelf_product *q = shelf_catalog_get(p->c, p->row[i]);
        fputs("<tr><td>", f);
        if (p->thumb[k]) {
            fputs("<img class='thumb' alt='' src='data:image/png;base64,", f);
            base64(f, p->thumb[k], p->thumb_size[k]);
            fputs("'>", f);
        }
        fputs("</td><td>", f);
        esc(f, q->id);
        fputs("</td><td>", f);
        highlighted(f, p->why[k]);
        fputs("</td><td>", f);
        esc(f, label_or_unknown(p, p->truth[i]));
        fputs("</td><td>", f);
        esc(f, shelf_model_label(p->m, p->ranked[i * (size_t)p->kq]));
        fprintf(f, "</td><td class='n'>%.4f</td></tr>", (double)p->probs[i * (size_t)p->kq]);
    }
    fputs("</tbody></table></section>", f);
}

static void hygiene(FILE *f, const report_page *p)
{
    fprintf(f, "<section id='hygiene'><h2>Data hygiene</h2>");
    if (!p->have_hygiene) {
        fputs("<p class='note'>Not measured.</p></section>", f);
        return;
    }
    const shelf_hygiene *h = &p->hygiene;
    fprintf(f, "<p>%ld products repeat an earlier product's text%s; %ld groups of them carry "
               "more than one label (conflicting labels: no model can get them all right); "
               "%ld leaf names sit under more than one parent.</p>",
            h->duplicates, shelf_model_modality(p->m) == SHELF_MODALITY_TEXT ? "" : " and image",
            h->conflicting, h->two_parents);
    if (h->n_conflicting_examples) {
        fputs("<table><thead><tr><th>line</th><th>label</th><th>repeats line</th>"
              "<th>its label</th></tr></thead><tbody>", f);
        for (int i = 0; i < h->n_conflicting_examples; i++) {
            const shelf_product *a = shelf_catalog_get(p->c, h->conflicting_examples[i].product);
            const shelf_product *b = shelf_catalog_get(p->c, h->conflicting_examples[i].earlier);
            fprintf(f, "<tr><td>%ld</td><td>", a->line);
            esc(f, a->label);
            fprintf(f, "</td><td>%ld</td><td>", b->line);
            esc(f, b->label);
            fputs("</td></tr>", f);
        }
        fputs("</tbody></table>", f);
    }
    fputs("</section>", f);
}

int report_html(FILE *f, const report_page *p)
{
    cJSON *mt = cJSON_Parse(p->metrics);
    if (!mt)
        return -1;
    fputs("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>shelf report: ",
          f);
    esc(f, p->model_path);
    fprintf(f, "</title><style>%s</style></head><body><h1>shelf report</h1><p>Model <code>",
            STYLE);
    esc(f, p->model_path);
    fputs("</code> on <code>", f);
    esc(f, p->data_path);
    fputs("</code></p>", f);
    summary(f, p, mt);
    classes(f, mt);
    int rc = confusions(f, p);
    calibration(f, p);
    rc |= backoff_curve(f, p);
    rc |= training(f, p);
    mistakes(f, p);
    hygiene(f, p);
    fprintf(f, "<script>%s</script></body></html>\n", SCRIPT);
    cJSON_Delete(mt);
    return rc ? -1 : 0;
}
