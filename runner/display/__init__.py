"""What a person sees: the console summary, live progress, report.html and charts."""
