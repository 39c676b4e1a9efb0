# SPDX-License-Identifier: GPL-2.0
#
# The chart of `make bench`: grouped bars of median requests/s, one panel
# per workload, a group per file size, a bar per server; log scale, since
# 0 B and 1 MiB differ by orders of magnitude. Run by scripts/bench.sh:
#     gnuplot -e "datafile='bench.dat'; outfile='bench.png'; \
#                 titles='\"wrk-ka-c32\" ...'; servers='khttpd twin nginx'; \
#                 subtitle='...'" scripts/plot-bench.gp
# bench.dat (from scripts/bench-report.py): a block per workload, separated
# by two blank lines; rows "size" khttpd twin nginx; NaN where absent.

if (!exists("datafile")) datafile = 'bench.dat'
if (!exists("outfile")) outfile = 'bench.png'
if (!exists("titles")) titles = '"wrk-ka-c32" "hs-ka-c8" "hs-ka-c64" "hs-close-c64"'
if (!exists("subtitle")) subtitle = ''
# The servers that were measured (a skipped twin gets no empty slot).
if (!exists("servers")) servers = 'khttpd twin nginx'
colof(s) = (s eq "khttpd") ? 2 : (s eq "twin") ? 3 : 4
colour(s) = (s eq "khttpd") ? "#d62728" : (s eq "twin") ? "#1f77b4" : "#2ca02c"
ns = words(servers)

nw = words(titles)
cols = (nw > 1) ? 2 : 1
rows = int(ceil(nw / 2.0))

set terminal pngcairo size 1400, 460 * rows + 60 font "DejaVu Sans,11" noenhanced
set output outfile
set datafile missing "NaN"

set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border rgb "#333333"
set boxwidth 0.9
set logscale y 10
set format y "%.0s%c"
set grid ytics mytics lc rgb "#dddddd"
set ytics nomirror
set xtics nomirror scale 0
# Inside, top right: the 1 MiB bars there are the shortest.
set key inside top right vertical samplen 2 opaque
set ylabel "requests/s (median)"
set yrange [*:*]

set multiplot layout rows, cols title "khttpd vs userspace twin vs nginx — " . subtitle font ",13"
do for [i = 1:nw] {
	set title word(titles, i) font ",12"
	plot for [j = 1:ns] datafile index (i - 1) \
		using (column(colof(word(servers, j)))):xtic(1) \
		title word(servers, j) lc rgb colour(word(servers, j))
}
unset multiplot
