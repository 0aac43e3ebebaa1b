// Submits the form_post response form as soon as the page loads (OAuth 2.0
// Form Post Response Mode §2). The page's Continue button does the same
// without JavaScript. The prototype's submit is called, so that no field of
// the form can shadow it.
"use strict";
(function () {
	var form = document.getElementById("form-post");
	if (form) {
		HTMLFormElement.prototype.submit.call(form);
	}
})();
