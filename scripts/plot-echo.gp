# SPDX-License-Identifier: GPL-2.0
#
# The chart of `make echo-bench`: round-trip latency against the number of
# concurrent clients, kecho.ko and user-echo-server, the mean (the course's
# figure, solid) and the p99 (dashed). Run by scripts/echo-bench.sh:
#     gnuplot -e "datafile='echo.dat'; outfile='bench.png'; \
#                 servers='kecho user'; subtitle='...'" scripts/plot-echo.gp
# The data file: "clients kecho_mean kecho_p50 kecho_p99 user_mean
# user_p50 user_p99" a line, NaN where a server was not measured.

if (!exists("datafile")) datafile = 'echo.dat'
if (!exists("outfile")) outfile = 'bench.png'
if (!exists("servers")) servers = 'kecho user'
if (!exists("subtitle")) subtitle = ''
col(s) = (s eq "kecho") ? 2 : 5
colour(s) = (s eq "kecho") ? "#d62728" : "#1f77b4"
title_of(s) = (s eq "kecho") ? "kecho.ko" : "user-echo-server"

set terminal pngcairo size 1100, 660 font "DejaVu Sans,11" noenhanced
set output outfile
set datafile missing "NaN"
set title "echo round trip vs concurrency\n" . subtitle font ",13"
set xlabel "concurrent clients"
set ylabel "microseconds per round trip"
set yrange [0:*]
set format y "%.0f"
set grid lc rgb "#dddddd"
set key inside top left
plot for [s in servers] datafile using 1:(column(col(s))) \
		with linespoints lw 2 pt 7 ps 0.8 lc rgb colour(s) \
		title title_of(s) . " mean", \
     for [s in servers] datafile using 1:(column(col(s) + 2)) \
		with lines lw 1.5 dt 2 lc rgb colour(s) \
		title title_of(s) . " p99"
