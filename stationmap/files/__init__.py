"""Files in and out: station lists read and imported, layers exported, spreadsheet safety, geocoding."""
