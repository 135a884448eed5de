# conf-to-man.awk — turns contrib/bidmail.conf.example (the one description of every key)
# into the KEYS section of bidmail.conf(5): each comment block followed by its key lines
# becomes one tagged paragraph. Run by the Makefile after the page head.
function esc(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	if (s ~ /^[.']/)
		s = "\\&" s
	return s
}
function flush_keys() {
	if (nkeys == 0)
		return
	print ".TP"
	for (i = 1; i <= nkeys; i++) {
		if (i > 1)
			print ".TQ"
		print keys[i]
	}
	print text
	nkeys = 0
	text = ""
}
NR == 1, /^$/ { next }		# the file's own heading is the page's DESCRIPTION
/^#/ {
	flush_keys()
	line = $0
	sub(/^# ?/, "", line)
	text = (text == "" ? "" : text "\n") esc(line)
	next
}
/^[a-z_]+ *=/ {
	key = $0
	sub(/ *=.*/, "", key)
	val = $0
	sub(/^[a-z_]+ *= */, "", val)
	keys[++nkeys] = ".B " key " = \"" (val == "" ? "" : "\\fI" esc(val) "\\fR") "\""
	next
}
/^$/ { flush_keys() }
END { flush_keys() }
