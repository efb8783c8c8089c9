"""One check, the schedule loop and the batch watch: the domain driven through the seams."""
