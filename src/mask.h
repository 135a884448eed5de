/*
 * mask.h — the words of contrib/mask-words.txt (mask.c), loaded with the amounts vocabulary
 * (extract_money.c) so that a reload swaps both at once and readers never see half of one.
 */
#ifndef BIDMAIL_MASK_H
#define BIDMAIL_MASK_H

struct mask_words;
struct money_vocab;

/* mask-words.txt read whole; the caller owns it; NULL with file:line: reason on stderr. */
struct mask_words *mask_words_load(const char *path);
/* Frees w (NULL accepted); returns NULL. */
struct mask_words *mask_words_free(struct mask_words *w);
/* The contact words loaded beside mv's amounts.txt (extract_money.c); NULL when none. */
const struct mask_words *money_vocab_contacts(const struct money_vocab *mv);

#endif
