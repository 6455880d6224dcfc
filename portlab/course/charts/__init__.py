"""Charts of the course, one module per topic.  Each public chart function returns a
:class:`portlab.course.theme.Chart` (both themes, its numbers, its text equivalent);
the numbers come from a pure function beside it that tests and notebooks can call."""
