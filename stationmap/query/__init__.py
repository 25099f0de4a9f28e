"""The questions: travel times, nearest stations, demand, coverage, gaps, siting, and the costly ones computed apart."""
