# p50 and p99 latency per proxy per connection count, from bench/lib/report.py's data files.
# usage: gnuplot -e "dir='bench/results/<stamp>'" bench/plot.gp   -> dir/latency.png
if (!exists("dir")) dir = "."
p50 = dir."/latency_p50.dat"
p99 = dir."/latency_p99.dat"
set terminal pngcairo size 1200,500 font "Sans,10"
set output dir."/latency.png"
set datafile missing "NA"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left autotitle columnheader
set grid ytics
set xlabel "wrk connections"
set ylabel "latency (ms, log scale)"
set logscale y
set yrange [0.01:*]
stats p50 using 2 nooutput
ncol = STATS_columns
set multiplot layout 1,2 title "outrigger vs nginx vs HAProxy: one proxy core, wrk -t1 (lower is better)"
set title "p50"
plot for [i=2:ncol] p50 using i:xtic(1)
set title "p99"
plot for [i=2:ncol] p99 using i:xtic(1)
unset multiplot
