"""What leaves the store for people: the HTML plate report, the hit list and the numbers behind the plots."""
