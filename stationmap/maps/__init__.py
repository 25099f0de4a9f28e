"""Maps: folium pages of the stations and the planner, and the static site."""
