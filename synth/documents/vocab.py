"""Word lists of generated documents: vendors, items, services, prose, places, names, currencies."""

from __future__ import annotations


V_A = ["Blue", "Golden", "Green", "Silver", "Red", "Northern", "Sunny", "Old", "Urban", "Royal",
        "Little", "Happy", "Bright", "Grand", "Corner", "Harbor", "Maple", "Oak", "River", "Summit"]
V_B = ["Harbor", "Leaf", "Bean", "Market", "Oven", "Garden", "Bridge", "Star", "Hill", "Lake",
        "Fox", "Table", "Anchor", "Mill", "Tower", "Field", "Stone", "Crown", "Pine", "Valley"]
V_C = ["Cafe", "Bakery", "Grocery", "Hardware", "Pharmacy", "Books", "Deli", "Bistro", "Store",
        "Supermarket", "Diner", "Kitchen", "Trading Co.", "Outfitters", "Electronics", "Pizzeria"]
V_CORP = ["Consulting", "Solutions", "Systems", "Logistics", "Partners", "Labs", "Industries",
           "Services", "Analytics", "Design Studio", "Engineering", "Media"]
V_SUFFIX = ["Ltd", "LLC", "Inc.", "GmbH", "S.A.", "Ltd.", "B.V.", "AG", ""]
ITEMS = ["Coffee", "Latte", "Cappuccino", "Espresso", "Green Tea", "Croissant", "Bagel", "Muffin",
          "Sandwich", "Soup of the day", "Orange Juice", "Water 0.5L", "Milk 1L", "Bread", "Eggs 12pk",
          "Apples", "Bananas", "Tomatoes", "Cheese", "Butter", "Pasta", "Rice 1kg", "Olive Oil",
          "Chocolate", "Cookies", "Yogurt", "Chicken Breast", "Salmon", "Batteries AA", "Light Bulb",
          "Screws 50pk", "Hammer", "Tape", "Notebook", "Pen Set", "Shampoo", "Toothpaste", "Soap",
          "Salad", "Pizza Margherita", "Burger", "Fries", "Lemonade", "Iced Tea", "Brownie", "Wrap"]
SERVICES = ["Consulting services", "Software license", "Web hosting (annual)", "Support plan",
             "Design work", "Project management", "Data migration", "Training session",
             "Cloud storage 1TB", "On-site visit", "Maintenance contract", "Custom development",
             "Translation services", "Printing A4 color", "Office chairs", "Laptop stand",
             "Network audit", "Security review", "Domain renewal", "SEO optimisation"]
WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at "
          "which but have an they you were her all she there would their we him been has when who "
          "will more no if out so said what up its about into than them can only other new some "
          "could time these two may then do first any my now such like our over man me even most "
          "made after also did many before must through back years where much your way well down "
          "should because each just those people how too little state good very make world still "
          "own see men work long get here between both life being under never day same another know "
          "while last might us great old year off come since against go came right used take three "
          "report analysis quarterly revenue growth market customers product service operations "
          "development strategy results performance management system process quality review data "
          "project team costs increase period budget forecast summary committee approval meeting").split()
STREETS = ["Main St", "High Street", "Oak Avenue", "Station Road", "Market Square", "Elm Street",
            "Park Lane", "Church Road", "King Street", "Mill Road", "Bahnhofstr.", "Rue de la Paix"]
CITIES = ["Springfield", "London", "Berlin", "Paris", "Amsterdam", "Zurich", "Toronto", "Sydney",
           "Boston", "Leeds", "Munich", "Lyon", "Austin", "Dublin", "Vienna"]
NAMES = ["John Smith", "Maria Garcia", "Chen Wei", "Anna Muller", "James Brown", "Sofia Rossi",
          "Liam O'Brien", "Emma Dubois", "Noah Jansen", "Olivia Taylor", "Lucas Martin", "Mia Novak"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]

# currency -> (symbol used on the page or None, tax labels, tax rates)
CURRENCIES: dict[str, tuple[str | None, list[str], list[float]]] = {
    "USD": ("$", ["Tax", "Sales Tax", "TAX"], [0.05, 0.06, 0.07, 0.08, 0.0825, 0.1]),
    "EUR": ("€", ["VAT", "MwSt", "TVA", "Tax"], [0.07, 0.1, 0.19, 0.2, 0.21]),
    "GBP": ("£", ["VAT", "Tax"], [0.05, 0.2]),
    "CHF": (None, ["MWST", "VAT"], [0.026, 0.081]),
    "CAD": ("C$", ["GST", "HST", "Tax"], [0.05, 0.13, 0.15]),
    "AUD": ("A$", ["GST"], [0.1]),
}
