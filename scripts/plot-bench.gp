# SPDX-License-Identifier: GPL-2.0
#
# The charts of `make bench`: grouped bars, one panel per block of the data
# file, a group per row (file size, workload, ...), a bar per server. Run by
# scripts/bench.sh once per line of bench.plots (from scripts/bench-report.py):
#     gnuplot -e "datafile='bench.dat'; outfile='bench.png'; \
#                 titles='\"wrk-ka-c32: ...\" ...'; servers='khttpd twin nginx'; \
#                 ylabel='requests/s (median)'; logy=1; \
#                 maintitle='size sweep'; subtitle='...'" scripts/plot-bench.gp
# The data file: a block per panel, separated by two blank lines; rows
# "label" khttpd twin nginx lighttpd h2o nginx-ktls (HTTPS only); NaN
# where absent. logy=1: log
# scale (0 B and 1 MiB, or ab with and without keep-alive, differ by orders
# of magnitude).

if (!exists("datafile")) datafile = 'bench.dat'
if (!exists("outfile")) outfile = 'bench.png'
if (!exists("titles")) titles = '"wrk-ka-c32" "hs-ka-c8" "hs-ka-c64" "hs-close-c64"'
if (!exists("subtitle")) subtitle = ''
if (!exists("maintitle")) maintitle = 'requests/s'
if (!exists("ylabel")) ylabel = 'requests/s (median)'
if (!exists("logy")) logy = 1
# The servers that were measured (a skipped server gets no empty slot).
if (!exists("servers")) servers = 'khttpd twin nginx lighttpd h2o'
colof(s) = (s eq "khttpd") ? 2 : (s eq "twin") ? 3 : (s eq "nginx") ? 4 : \
	(s eq "lighttpd") ? 5 : (s eq "h2o") ? 6 : 7
colour(s) = (s eq "khttpd") ? "#d62728" : (s eq "twin") ? "#1f77b4" : \
	(s eq "nginx") ? "#2ca02c" : (s eq "lighttpd") ? "#ff7f0e" : \
	(s eq "h2o") ? "#9467bd" : "#17becf"
ns = words(servers)

nw = words(titles)
cols = (nw > 1) ? 2 : 1
rows = int(ceil(nw / (1.0 * cols)))

set terminal pngcairo size 1400, 460 * rows + 100 font "DejaVu Sans,11" noenhanced
set output outfile
set datafile missing "NaN"

set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border rgb "#333333"
set boxwidth 0.9
if (logy) {
	set logscale y 10
	set format y "%.0s%c"
} else {
	set yrange [0:*]
}
set grid ytics mytics lc rgb "#dddddd"
set ytics nomirror
set xtics nomirror scale 0
# Many groups in one panel (the 1 KiB set): slant the labels.
if (nw == 1) { set xtics rotate by -25 left }
# Inside, top right: the 1 MiB bars there are the shortest.
set key inside top right vertical samplen 2 opaque
set ylabel ylabel

set multiplot layout rows, cols title maintitle . "\n" . subtitle font ",13"
do for [i = 1:nw] {
	set title word(titles, i) font ",12"
	plot for [j = 1:ns] datafile index (i - 1) \
		using (column(colof(word(servers, j)))):xtic(1) \
		title word(servers, j) lc rgb colour(word(servers, j))
}
unset multiplot
