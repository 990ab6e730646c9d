"""Writes the SLA report's statements for the data set of seed.sql, as the server
emits them (base 2026-12-05 20:00 UTC, now = base + 45 min): o_<range>_<grouping>.sql,
the two statements before the one-pass change; n_<range>_<grouping>.sql, the one
statement after it (run it with `SET jit=off`, as the server does)."""
import datetime

DAY = 86400000000
base = datetime.datetime(2026, 12, 5, 20, 0, tzinfo=datetime.timezone.utc)
now = base + datetime.timedelta(minutes=45)
us = lambda d: int(d.timestamp()) * 1000000
now_us = us(now)
OPEN = "t.status NOT IN ('work_done', 'closed', 'cancelled')"
T = "'11111111-1111-1111-1111-111111111111'"
MONTH = "CAST(EXTRACT(YEAR FROM t.created_at AT TIME ZONE 'UTC') * 12 + EXTRACT(MONTH FROM t.created_at AT TIME ZONE 'UTC') - 1 AS BIGINT)"
TARGETS = ["response", "arrival", "resolution"]


def keys(g):
    if g == 'category':
        return ["t.category", "CAST(NULL AS UUID)", "CAST(NULL AS BIGINT)"]
    return ["CAST(NULL AS TEXT)", "CAST(NULL AS UUID)", MONTH]


joins = " JOIN sla_outcomes o ON o.tenant_id = t.tenant_id AND o.ticket_id = t.id"


def rng(frm, to):
    return (f" WHERE t.tenant_id = {T} AND t.created_at >= '{frm.isoformat()}' AND t.created_at < '{to.isoformat()}'"
            " AND NOT EXISTS (SELECT 1 FROM ticket_merges m WHERE m.source_id = t.id)")


def old(g, frm, to):
    from_us = us(frm); until_us = min(us(to), now_us)
    k = keys(g); ks = ", ".join(k); al = f"{k[0]} AS k1, {k[1]} AS k2, {k[2]} AS k3"
    b = [now_us - DAY, now_us - 3 * DAY, now_us - 7 * DAY]
    s = f"SELECT {ks}, COUNT(*), SUM(o.covered), SUM(CASE WHEN {OPEN} THEN 1 ELSE 0 END)"
    s += (f", SUM(CASE WHEN {OPEN} AND o.created_us > {b[0]} THEN 1 ELSE 0 END)"
          f", SUM(CASE WHEN {OPEN} AND o.created_us <= {b[0]} AND o.created_us > {b[1]} THEN 1 ELSE 0 END)"
          f", SUM(CASE WHEN {OPEN} AND o.created_us <= {b[1]} AND o.created_us > {b[2]} THEN 1 ELSE 0 END)"
          f", SUM(CASE WHEN {OPEN} AND o.created_us <= {b[2]} THEN 1 ELSE 0 END)")
    s += (", SUM(CASE WHEN t.status = 'closed' THEN 1 ELSE 0 END)"
          ", SUM(CASE WHEN t.status = 'closed' AND o.fixed_first_time = 1 THEN 1 ELSE 0 END)")
    for tg in TARGETS:
        s += (f", SUM(CASE WHEN o.{tg}_state = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN o.{tg}_state = 2 THEN 1 ELSE 0 END)"
              f", SUM(CASE WHEN o.{tg}_state = 3 OR (o.{tg}_state = 0 AND o.{tg}_deadline_us <= {now_us}) THEN 1 ELSE 0 END)"
              f", percentile_disc(0.5) WITHIN GROUP (ORDER BY o.{tg}_seconds), percentile_disc(0.9) WITHIN GROUP (ORDER BY o.{tg}_seconds)")
    s += " FROM tickets t" + joins + rng(frm, to) + " GROUP BY 1, 2, 3;\n"
    s += (f"SELECT k1, k2, k3, CAST(SUM(seconds) AS BIGINT) FROM (SELECT k1, k2, k3, CAST(SUM(CASE WHEN e > b THEN e - b ELSE 0 END) AS BIGINT) / 1000000 AS seconds"
          f" FROM (SELECT {al}, x.ticket_id AS ticket_id, CASE WHEN x.started_us > {from_us} THEN x.started_us ELSE {from_us} END AS b,"
          f" CASE WHEN x.ended_us IS NOT NULL AND x.ended_us < {until_us} THEN x.ended_us ELSE {until_us} END AS e"
          f" FROM tickets t{joins} JOIN sla_on_site x ON x.tenant_id = t.tenant_id AND x.ticket_id = t.id"
          + rng(frm, to) + ") stretches GROUP BY k1, k2, k3, ticket_id) per_ticket GROUP BY k1, k2, k3;\n")
    return s


def new(g, frm, to):
    from_us = us(frm); until_us = min(us(to), now_us)
    k = keys(g); al = f"{k[0]} AS k1, {k[1]} AS k2, {k[2]} AS k3"
    b = [now_us - DAY, now_us - 3 * DAY, now_us - 7 * DAY]
    cols = (f"o.covered AS covered, CASE WHEN {OPEN} THEN CASE WHEN o.created_us > {b[0]} THEN 0 WHEN o.created_us > {b[1]} THEN 1"
            f" WHEN o.created_us > {b[2]} THEN 2 ELSE 3 END END AS age, CASE WHEN t.status = 'closed' THEN 1 + o.fixed_first_time ELSE 0 END AS closed")
    for i, tg in enumerate(TARGETS):
        cols += (f", CASE WHEN o.{tg}_state = 3 OR (o.{tg}_state = 0 AND o.{tg}_deadline_us <= {now_us}) THEN 3 ELSE o.{tg}_state END AS c{i}"
                 f", o.{tg}_seconds AS v{i}")
    cols += (f", CASE WHEN o.on_site_first_us IS NULL THEN 0 WHEN o.on_site_first_us >= {from_us} AND (o.on_site_last_end_us IS NULL"
             f" OR o.on_site_last_end_us <= {until_us}) THEN (o.on_site_closed_us + CASE WHEN o.on_site_open_us < {until_us}"
             f" THEN {until_us} - o.on_site_open_us ELSE 0 END) / 1000000 END AS on_site, t.tenant_id AS tenant_id, t.id AS ticket_id")
    sel = ("SELECT k1, k2, k3, COUNT(*), SUM(covered), COUNT(age), SUM(CASE WHEN age = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN age = 1 THEN 1 ELSE 0 END),"
           " SUM(CASE WHEN age = 2 THEN 1 ELSE 0 END), SUM(CASE WHEN age = 3 THEN 1 ELSE 0 END), SUM(CASE WHEN closed > 0 THEN 1 ELSE 0 END),"
           " SUM(CASE WHEN closed = 2 THEN 1 ELSE 0 END)")
    sel += (f", CAST(SUM(CASE WHEN on_site IS NOT NULL THEN on_site ELSE (SELECT COALESCE(CAST(SUM(CASE WHEN e > b THEN e - b ELSE 0 END) AS BIGINT), 0)"
            f" / 1000000 FROM (SELECT CASE WHEN x.started_us > {from_us} THEN x.started_us ELSE {from_us} END AS b,"
            f" CASE WHEN x.ended_us IS NOT NULL AND x.ended_us < {until_us} THEN x.ended_us ELSE {until_us} END AS e"
            " FROM sla_on_site x WHERE x.tenant_id = r.tenant_id AND x.ticket_id = r.ticket_id) stretches) END) AS BIGINT)")
    for i in range(3):
        sel += (f", SUM(CASE WHEN c{i} = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN c{i} = 2 THEN 1 ELSE 0 END), SUM(CASE WHEN c{i} = 3 THEN 1 ELSE 0 END)"
                f", percentile_disc(0.5) WITHIN GROUP (ORDER BY v{i}), percentile_disc(0.9) WITHIN GROUP (ORDER BY v{i})")
    return f"{sel} FROM (SELECT {al}, {cols} FROM tickets t{joins}{rng(frm, to)} OFFSET 0) r GROUP BY k1, k2, k3;\n"


ranges = {
    'whole': (base - datetime.timedelta(days=366), base + datetime.timedelta(hours=1)),
    'month': (base - datetime.timedelta(days=31), base),
    'past': (base - datetime.timedelta(days=61), base - datetime.timedelta(days=30)),
}
for name, r in ranges.items():
    for g in ['category', 'month']:
        open(f'o_{name}_{g}.sql', 'w').write(old(g, *r))
        open(f'n_{name}_{g}.sql', 'w').write(new(g, *r))
